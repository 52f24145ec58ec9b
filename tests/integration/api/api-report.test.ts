import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { apiErrorSchema } from '../../../schemas/api.js';
import type { JobView } from '../../../schemas/job-record.js';
import type { OutputLayoutMode } from '../../../schemas/job-spec.js';
import { runReportSchema, type RunReport } from '../../../schemas/run-report.js';
import { jobOutputLayout } from '../../../jobs/output-layout.js';
import { fileUri } from '../../../jobs/ports/storage-uri.js';
import { makeStorage } from '../../../services/storage/make-storage.js';
import { runReportFixture } from '../../helpers/run-report-fixture.js';
import { auth, type ApiHarness, specInput, startApi } from './api-harness.js';

/**
 * `GET /v1/jobs/:id/report` (issue 18.2) on the real API stack: real Redis, real file storage. The
 * report is written by hand where finalize writes it (`jobOutputLayout(…).report`), so the route is tested
 * against the layout itself, not a copy of its rule.
 */
const storage = makeStorage();
let h: ApiHarness;
let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'quiver-api-report-'));
  h = await startApi({}, { storage });
});

afterEach(async () => {
  await h.close();
  await rm(dir, { recursive: true, force: true });
});

async function submit(output: { uri: string; layout?: OutputLayoutMode }): Promise<JobView> {
  const response = await h.app.inject({
    method: 'POST',
    url: '/v1/jobs',
    headers: auth('acme'),
    payload: { ...specInput, output },
  });
  expect(response.statusCode).toBe(201);
  return response.json<JobView>();
}

/** Writes `report` where finalize writes job `job`'s, and returns that URI. */
async function writeReport(job: JobView, report: RunReport | string): Promise<string> {
  const uri = jobOutputLayout(job.spec.output, job.id).report;
  await storage.write(uri, Buffer.from(typeof report === 'string' ? report : JSON.stringify(report)));
  return uri;
}

async function finish(job: JobView, to: 'succeeded' | 'failed'): Promise<void> {
  for (const status of ['planning', 'running', 'finalizing'] as const)
    await h.store.transition(job.id, status);
  await h.store.transition(
    job.id,
    to,
    to === 'failed' ? { error: { code: 'QUALITY_GATE_FAILED', message: 'psi over limit' } } : {},
  );
}

const getReport = (id: string, tenant: 'acme' | 'globex' | 'ops' = 'acme') =>
  h.app.inject({ url: `/v1/jobs/${id}/report`, headers: auth(tenant) });

function errorOf(response: { statusCode: number; json(): unknown }) {
  return apiErrorSchema.parse(response.json()).error;
}

describe('GET /v1/jobs/:id/report', () => {
  it('is 404 REPORT_NOT_FOUND until finalize writes it, then the report — for a failed job too', async () => {
    const job = await submit({ uri: fileUri(`${dir}/scores/`) });
    const before = await getReport(job.id);
    expect(before.statusCode).toBe(404);
    expect(errorOf(before)).toMatchObject({
      code: 'REPORT_NOT_FOUND',
      message: expect.stringContaining(`job ${job.id} is queued`) as unknown,
    });

    // The quality gate failed the job: its report is what the user needs.
    const report = runReportFixture(job.id, { createdAt: new Date().toISOString() });
    const uri = await writeReport(job, report);
    expect(uri).toBe(`${job.output.uri}_report.json`);
    await finish(job, 'failed');
    const found = await getReport(job.id);
    expect(found.statusCode).toBe(200);
    expect(runReportSchema.parse(found.json())).toEqual(report);
    // The body is the report itself, nothing added or left out.
    expect(found.json()).toEqual(JSON.parse(JSON.stringify(report)));

    // Tenancy as everywhere: another tenant's job is a missing one; an admin key sees it.
    const other = await getReport(job.id, 'globex');
    expect(other.statusCode).toBe(404);
    expect(errorOf(other).code).toBe('JOB_NOT_FOUND');
    expect((await getReport(job.id, 'ops')).statusCode).toBe(200);
    expect((await getReport('00000000-0000-4000-8000-000000000000')).statusCode).toBe(404);
  });

  it('says a finished job without a report ended without one', async () => {
    const job = await submit({ uri: fileUri(`${dir}/old/`) });
    await finish(job, 'succeeded');
    const response = await getReport(job.id);
    expect(response.statusCode).toBe(404);
    const error = errorOf(response);
    expect(error.code).toBe('REPORT_NOT_FOUND');
    expect(error.message).toContain('is succeeded and has no report');
    expect(error.message).toContain(`${job.output.uri}_report.json`);
  });

  it('at an exact location: a later run’s report is 409 OUTPUT_REPLACED, an earlier run’s is not this job’s', async () => {
    const location = fileUri(`${dir}/daily/dt=2026-12-01/`);
    const first = await submit({ uri: location, layout: 'exact' });
    const firstReport = runReportFixture(first.id, { createdAt: new Date().toISOString() });
    const uri = await writeReport(first, firstReport);
    expect(uri).toBe(`${location}_report.json`);
    await finish(first, 'succeeded');
    expect((await getReport(first.id)).json()).toEqual(JSON.parse(JSON.stringify(firstReport)));

    // A second run of the same location: until it writes its own, the report there is the first run's.
    const second = await submit({ uri: location, layout: 'exact' });
    const pending = await getReport(second.id);
    expect(pending.statusCode).toBe(404);
    expect(errorOf(pending).code).toBe('REPORT_NOT_FOUND');

    const secondReport = runReportFixture(second.id, { createdAt: new Date().toISOString() });
    expect(await writeReport(second, secondReport)).toBe(uri);
    await finish(second, 'succeeded');
    const replaced = await getReport(first.id);
    expect(replaced.statusCode).toBe(409);
    expect(errorOf(replaced)).toMatchObject({
      code: 'OUTPUT_REPLACED',
      message: expect.stringContaining(`replaced by job ${second.id}`) as unknown,
    });
    expect((await getReport(second.id)).json()).toEqual(JSON.parse(JSON.stringify(secondReport)));
  });

  it('answers a report that does not parse with 500 REPORT_INVALID naming the object, and keeps serving', async () => {
    const job = await submit({ uri: fileUri(`${dir}/broken/`) });
    const uri = await writeReport(job, '{"jobId": "truncated');
    await finish(job, 'succeeded');
    const notJson = await getReport(job.id);
    expect(notJson.statusCode).toBe(500);
    expect(errorOf(notJson)).toMatchObject({
      code: 'REPORT_INVALID',
      message: expect.stringContaining(uri) as unknown,
    });

    const { rows: _rows, ...withoutRows } = runReportFixture(job.id);
    await writeReport(job, JSON.stringify(withoutRows));
    const wrongShape = await getReport(job.id);
    expect(wrongShape.statusCode).toBe(500);
    expect(errorOf(wrongShape).message).toMatch(/rows/);
    // The API is still up.
    expect((await h.app.inject({ url: `/v1/jobs/${job.id}`, headers: auth('acme') })).statusCode).toBe(200);
  });

  it('is documented in the OpenAPI document with its error statuses', async () => {
    const doc = (await h.app.inject({ url: '/openapi.json' })).json<{
      paths: Record<string, { get?: { responses: Record<string, unknown> } }>;
    }>();
    const responses = doc.paths['/v1/jobs/{id}/report']?.get?.responses ?? {};
    expect(Object.keys(responses)).toEqual(expect.arrayContaining(['200', '404', '409', '500']));
  });
});
