import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { apiErrorSchema } from '../../../schemas/api.js';
import { jobViewSchema, type JobView } from '../../../schemas/job-record.js';
import type { Manifest } from '../../../schemas/manifest.js';
import { makeMemoryStorage } from '../../helpers/memory-storage.js';
import { auth, type ApiHarness, specInput, startApi } from './api-harness.js';

/**
 * `OUTPUT_IN_USE` (issue 19.1): two active jobs never write one `exact` location, nor folders one inside
 * the other; the hold is taken atomically with the create and let go when the job ends. A replaced exact
 * job's results are refused (`OUTPUT_REPLACED`) rather than signing the later job's parts.
 */
let h: ApiHarness;
const storage = makeMemoryStorage();

beforeEach(async () => {
  h = await startApi({}, { storage });
});

afterEach(async () => {
  await h.close();
});

const day = 's3://scores/daily/dt=2026-11-28/';

function submit(output: Record<string, unknown>, key?: string) {
  return h.app.inject({
    method: 'POST',
    url: '/v1/jobs',
    headers: { ...auth('acme'), ...(key === undefined ? {} : { 'idempotency-key': key }) },
    payload: { ...specInput, output: { ...specInput.output, ...output } },
  });
}

async function created(output: Record<string, unknown>): Promise<JobView> {
  const response = await submit(output);
  expect(response.statusCode, response.body).toBe(201);
  return jobViewSchema.parse(response.json());
}

/** Refused with OUTPUT_IN_USE naming the holder (where several active jobs overlap, one of them). */
async function refused(output: Record<string, unknown>, holder: string | string[]): Promise<string> {
  const response = await submit(output);
  expect(response.statusCode, response.body).toBe(409);
  const body = apiErrorSchema.parse(response.json());
  expect(body.error.code).toBe('OUTPUT_IN_USE');
  const holders = typeof holder === 'string' ? [holder] : holder;
  expect(
    holders.filter((id) => body.error.message.includes(id)),
    body.error.message,
  ).toHaveLength(1);
  return body.error.message;
}

describe('OUTPUT_IN_USE', () => {
  it('refuses a second active job on the same exact location, and what lies inside or around it', async () => {
    const first = await created({ uri: day, layout: 'exact' });
    expect(first.output.uri).toBe(day);
    // The same location however it is spelled.
    await refused({ uri: 's3://scores/daily/dt=2026-11-28', layout: 'exact' }, first.id);
    await refused({ uri: 's3://scores//daily/dt=2026-11-28/', layout: 'exact' }, first.id);
    // An exact location inside it or around it, and a job-layout folder inside it.
    await refused({ uri: `${day}hour=07/`, layout: 'exact' }, first.id);
    await refused({ uri: 's3://scores/daily/', layout: 'exact' }, first.id);
    await refused({ uri: day }, first.id);
    // Neighbours are free; a job-layout folder around it is too (its own folder is `<uri>/<id>/`).
    const next = await created({ uri: 's3://scores/daily/dt=2026-11-29/', layout: 'exact' });
    const prefix = await created({ uri: 's3://scores/daily/dt=2026-11-2', layout: 'exact' });
    const around = await created({ uri: 's3://scores/' });
    // … but an exact location around that job's folder is not (nor around the other three, any of which
    // the refusal may name).
    await refused({ uri: 's3://scores/', layout: 'exact' }, [around.id, first.id, next.id, prefix.id]);
  });

  it('is let go when the job ends, not while it is cancelling', async () => {
    const first = await created({ uri: day, layout: 'exact' });
    const cancel = await h.app.inject({
      method: 'POST',
      url: `/v1/jobs/${first.id}/cancel`,
      headers: auth('acme'),
    });
    expect(cancel.statusCode).toBe(200);
    expect(cancel.json<JobView>().status).toBe('cancelling');
    await refused({ uri: day, layout: 'exact' }, first.id);
    await h.store.transition(first.id, 'cancelled');
    const second = await created({ uri: day, layout: 'exact' });
    await h.store.transition(second.id, 'planning');
    await h.store.transition(second.id, 'failed', { error: { code: 'X', message: 'x' } });
    await created({ uri: day, layout: 'exact' });
  });

  it('lets exactly one of many racing creates hold a location', async () => {
    const responses = await Promise.all(
      Array.from({ length: 12 }, () => submit({ uri: 's3://scores/race/', layout: 'exact' })),
    );
    expect(responses.map((r) => r.statusCode).sort()).toEqual([201, ...Array<number>(11).fill(409)]);
    for (const r of responses.filter((r) => r.statusCode === 409))
      expect(apiErrorSchema.parse(r.json()).error.code).toBe('OUTPUT_IN_USE');
  });

  it('returns the same job for a repeated idempotency key instead of refusing it', async () => {
    const first = await submit({ uri: day, layout: 'exact' }, 'nightly-2026-11-28');
    expect(first.statusCode).toBe(201);
    const again = await submit({ uri: day, layout: 'exact' }, 'nightly-2026-11-28');
    expect(again.statusCode).toBe(200);
    expect(again.json<JobView>().id).toBe(first.json<JobView>().id);
  });

  it('takes over a hold whose job is gone', async () => {
    const first = await created({ uri: day, layout: 'exact' });
    // Deleting a job lets its hold go; a hold left by a job deleted without that is stale and dropped.
    await h.redis.hset(`${h.prefix}:job:${first.id}`, 'outputFolder', 'elsewhere');
    await h.store.delete(first.id);
    await created({ uri: day, layout: 'exact' });
  });
});

describe('results of a replaced exact location', () => {
  it('are refused with OUTPUT_REPLACED once a later job wrote the manifest', async () => {
    const job = await created({ uri: 's3://scores/replaced/', layout: 'exact' });
    const manifest: Manifest = {
      jobId: 'the-later-job',
      specDigest: job.specDigest,
      format: 'parquet',
      root: 's3://scores/replaced',
      inputRows: 0,
      rowsScored: 0,
      rowsRejected: 0,
      parts: [],
      rejected: [],
      timings: { scoringSeconds: 0, createdAt: job.createdAt, finishedAt: job.createdAt },
    };
    const manifestUri = 's3://scores/replaced/_manifest.json';
    await storage.write(manifestUri, new TextEncoder().encode(JSON.stringify(manifest)));
    for (const to of ['planning', 'running', 'finalizing'] as const) await h.store.transition(job.id, to);
    await h.store.transition(job.id, 'succeeded', { manifestUri });
    const response = await h.app.inject({
      method: 'GET',
      url: `/v1/jobs/${job.id}/results`,
      headers: auth('acme'),
    });
    expect(response.statusCode).toBe(409);
    expect(apiErrorSchema.parse(response.json()).error.code).toBe('OUTPUT_REPLACED');
    await storage.write(
      manifestUri,
      new TextEncoder().encode(JSON.stringify({ ...manifest, jobId: job.id })),
    );
    const own = await h.app.inject({
      method: 'GET',
      url: `/v1/jobs/${job.id}/results`,
      headers: auth('acme'),
    });
    expect(own.statusCode, own.body).toBe(200);
  });
});
