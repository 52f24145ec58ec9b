import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { apiErrorSchema, jobResultsSchema } from '../../../schemas/api.js';
import type { JobView } from '../../../schemas/job-record.js';
import type { Manifest } from '../../../schemas/manifest.js';
import { makeS3Presigner, type Presigner } from '../../../services/storage/presign.js';
import { startS3Server, testS3Options, type TestS3Server } from '../../helpers/s3-server.js';
import { auth, type ApiHarness, specInput, startApi } from './api-harness.js';

let s3: TestS3Server;
let real: Presigner;
let h: ApiHarness;
/** URIs the API asked to sign. */
let signed: string[];

beforeAll(async () => {
  s3 = await startS3Server();
  for (const bucket of ['scores', 'other-bucket']) await s3.createBucket(bucket);
  await s3.storage.write('s3://other-bucket/secret.parquet', Buffer.from('another tenant’s data'));
  real = makeS3Presigner(testS3Options(s3.endpoint));
});

afterAll(async () => {
  real.close();
  await s3.close();
});

beforeEach(async () => {
  signed = [];
  const presigner: Presigner = {
    presignGet: (uri, seconds) => {
      signed.push(uri);
      return real.presignGet(uri, seconds);
    },
    close: () => undefined,
  };
  h = await startApi({}, { storage: s3.storage, presigner });
});

afterEach(async () => {
  await h.close();
});

/** A succeeded job whose manifest (written by the test, as a forger could) lists `parts` and `rejected`. */
async function jobWithManifest(
  parts: (root: string) => string[],
  rejected: (root: string) => string[] = () => [],
): Promise<JobView> {
  const submitted = await h.app.inject({
    method: 'POST',
    url: '/v1/jobs',
    headers: auth('acme'),
    payload: { ...specInput, output: { uri: 's3://scores/fraud/' } },
  });
  const job = submitted.json<JobView>();
  const root = job.output.uri;
  const entry = (uri: string, index: number) => ({ index, uri, rows: 1, bytes: 1, sha256: '0'.repeat(64) });
  const manifest: Manifest = {
    jobId: job.id,
    specDigest: job.specDigest,
    format: 'parquet',
    root,
    inputRows: 2,
    rowsScored: 2,
    rowsRejected: 0,
    parts: parts(root).map(entry),
    rejected: rejected(root).map(entry),
    timings: { scoringSeconds: 1, createdAt: job.createdAt, finishedAt: job.createdAt },
  };
  const manifestUri = `${root}_manifest.json`;
  await s3.storage.write(manifestUri, Buffer.from(JSON.stringify(manifest)));
  for (const to of ['planning', 'running', 'finalizing'] as const) await h.store.transition(job.id, to);
  await h.store.transition(job.id, 'succeeded', { manifestUri });
  return job;
}

const results = (job: JobView) => h.app.inject({ url: `/v1/jobs/${job.id}/results`, headers: auth('acme') });

describe('GET /v1/jobs/:id/results signs only files under the job’s root', () => {
  it.each([
    ['another bucket', (): string => 's3://other-bucket/secret.parquet'],
    ['a `..` path', (root: string): string => `${root}../../../other-bucket/secret.parquet`],
    ['a `..` segment deeper down', (root: string): string => `${root}rejected/../../other/part.parquet`],
    ['a percent-encoded `..`', (root: string): string => `${root}%2e%2e/other/part.parquet`],
    ['a sibling job’s folder', (root: string): string => `${root.slice(0, -1)}-other/part.parquet`],
    ['the root itself', (root: string): string => root],
  ])('refuses a manifest listing %s: 409 MANIFEST_OUTSIDE_ROOT, nothing signed', async (_name, forged) => {
    const job = await jobWithManifest((root) => [`${root}part-00000.parquet`, forged(root)]);
    const response = await results(job);
    expect(response.statusCode).toBe(409);
    const body = apiErrorSchema.parse(response.json());
    expect(body.error.code).toBe('MANIFEST_OUTSIDE_ROOT');
    expect(body.error.message).toContain('parts[1].uri');
    expect(response.body).not.toMatch(/X-Amz-Signature/i);
    expect(signed).toEqual([]);
  });

  it('refuses a rejected-rows entry outside the root too', async () => {
    const job = await jobWithManifest(
      (root) => [`${root}part-00000.parquet`],
      () => ['s3://other-bucket/secret.parquet'],
    );
    const response = await results(job);
    expect(apiErrorSchema.parse(response.json()).error).toMatchObject({
      code: 'MANIFEST_OUTSIDE_ROOT',
      message: expect.stringContaining('rejected[0].uri') as unknown,
    });
    expect(signed).toEqual([]);
  });

  it('still signs every entry of a manifest that stays under the root', async () => {
    const job = await jobWithManifest(
      (root) => [`${root}part-00000-a1.parquet`, `${root}part-00001-b2.parquet`],
      (root) => [`${root}rejected/part-00000-a1.jsonl`],
    );
    const response = await results(job);
    expect(response.statusCode).toBe(200);
    const body = jobResultsSchema.parse(response.json());
    expect(body.parts.every((part) => part.url?.includes('X-Amz-Signature'))).toBe(true);
    expect(signed).toHaveLength(3);
  });
});
