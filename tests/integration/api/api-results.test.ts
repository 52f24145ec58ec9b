import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { apiErrorSchema, jobResultsSchema } from '../../../schemas/api.js';
import type { JobView } from '../../../schemas/job-record.js';
import type { Manifest } from '../../../schemas/manifest.js';
import { makeStorage } from '../../../services/storage/make-storage.js';
import { makeS3Presigner, type Presigner } from '../../../services/storage/presign.js';
import type { Storage } from '../../../jobs/ports/storage.js';
import { fileUri } from '../../../jobs/ports/storage-uri.js';
import { startS3Server, testS3Options, type TestS3Server } from '../../helpers/s3-server.js';
import { auth, type ApiHarness, specInput, startApi } from './api-harness.js';

let s3: TestS3Server;
let presigner: Presigner;
let h: ApiHarness;
let localDir: string;

beforeAll(async () => {
  s3 = await startS3Server();
  await s3.createBucket('scores');
  presigner = makeS3Presigner(testS3Options(s3.endpoint));
});

afterAll(async () => {
  presigner.close();
  await s3.close();
});

beforeEach(async () => {
  localDir = await mkdtemp(join(tmpdir(), 'quiver-api-results-'));
  const storage = makeStorage({ s3: testS3Options(s3.endpoint) });
  h = await startApi({ resultUrlExpirySeconds: 600 }, { storage, presigner });
});

afterEach(async () => {
  await h.close();
  await rm(localDir, { recursive: true, force: true });
});

/** Submits a job writing under `outputUri`, writes its parts and manifest there, and marks it succeeded. */
async function finishedJob(storage: Storage, outputUri: string) {
  const submitted = await h.app.inject({
    method: 'POST',
    url: '/v1/jobs',
    headers: auth('acme'),
    payload: { ...specInput, output: { uri: outputUri } },
  });
  const job = submitted.json<JobView>();
  const root = job.output.uri;
  const parts = [randomBytes(1000), randomBytes(2345)];
  const rejected = Buffer.from('{"row":3,"reason":"f3 is null"}\n');
  for (const [i, bytes] of parts.entries()) await storage.write(`${root}part-0000${i}.parquet`, bytes);
  await storage.write(`${root}rejected/part-00000.jsonl`, rejected);
  const manifest: Manifest = {
    jobId: job.id,
    specDigest: job.specDigest,
    format: 'parquet',
    root,
    inputRows: 31,
    rowsScored: 30,
    rowsRejected: 1,
    parts: parts.map((bytes, index) => ({
      index,
      uri: `${root}part-0000${index}.parquet`,
      rows: 15,
      bytes: bytes.length,
      sha256: createHash('sha256').update(bytes).digest('hex'),
    })),
    rejected: [{ index: 0, uri: `${root}rejected/part-00000.jsonl`, rows: 1 }],
    timings: { scoringSeconds: 1, createdAt: job.createdAt, finishedAt: job.createdAt },
  };
  const manifestUri = `${root}_manifest.json`;
  await storage.write(manifestUri, Buffer.from(JSON.stringify(manifest)));
  for (const to of ['planning', 'running', 'finalizing'] as const) await h.store.transition(job.id, to);
  await h.store.transition(job.id, 'succeeded', { manifestUri });
  return { job, parts, rejected, manifest, manifestUri };
}

describe('GET /v1/jobs/:id/results', () => {
  it('hands out presigned URLs that download exactly the parts written', async () => {
    const { job, parts, rejected, manifest, manifestUri } = await finishedJob(
      s3.storage,
      's3://scores/fraud/',
    );
    const before = Date.now();
    const response = await h.app.inject({ url: `/v1/jobs/${job.id}/results`, headers: auth('acme') });
    expect(response.statusCode).toBe(200);
    const results = jobResultsSchema.parse(response.json());
    expect(results).toMatchObject({ jobId: job.id, manifestUri, manifest });
    const expiresAt = Date.parse(results.urlsExpireAt ?? '');
    expect(expiresAt - before).toBeGreaterThanOrEqual(599_000);
    expect(expiresAt - before).toBeLessThanOrEqual(602_000);

    expect(results.parts.map((p) => p.rows)).toEqual([15, 15]);
    for (const [i, part] of results.parts.entries()) {
      expect(part.url).toMatch(/X-Amz-Signature=/);
      const download = await fetch(part.url ?? '');
      expect(download.status).toBe(200);
      const body = Buffer.from(await download.arrayBuffer());
      expect(body).toEqual(parts[i]);
      // Each part carries the size and SHA-256 a client checks its download against.
      expect(part).toMatchObject({
        bytes: body.length,
        sha256: createHash('sha256').update(body).digest('hex'),
      });
    }
    const rejectedFile = await fetch(results.rejected[0]?.url ?? '');
    expect(Buffer.from(await rejectedFile.arrayBuffer())).toEqual(rejected);
  });

  it('gives file:// outputs their URIs without URLs', async () => {
    const local = makeStorage();
    const { job } = await finishedJob(local, fileUri(`${localDir}/`));
    const results = jobResultsSchema.parse(
      (await h.app.inject({ url: `/v1/jobs/${job.id}/results`, headers: auth('acme') })).json(),
    );
    expect(results.parts.every((p) => p.url === undefined && p.uri.startsWith('file://'))).toBe(true);
    expect(results.urlsExpireAt).toBeUndefined();
  });

  it('answers 409 for a job that has not succeeded and 404 for another tenant’s', async () => {
    const submitted = await h.app.inject({
      method: 'POST',
      url: '/v1/jobs',
      headers: auth('acme'),
      payload: specInput,
    });
    const job = submitted.json<JobView>();
    const pending = await h.app.inject({ url: `/v1/jobs/${job.id}/results`, headers: auth('acme') });
    expect(pending.statusCode).toBe(409);
    expect(apiErrorSchema.parse(pending.json()).error).toMatchObject({
      code: 'JOB_NOT_SUCCEEDED',
      message: expect.stringContaining('queued') as unknown,
    });
    const { job: done } = await finishedJob(s3.storage, 's3://scores/fraud/');
    const other = await h.app.inject({ url: `/v1/jobs/${done.id}/results`, headers: auth('globex') });
    expect(other.statusCode).toBe(404);
  });
});
