import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { idempotentJobId } from '../../../jobs/submit-job.js';
import { apiErrorSchema } from '../../../schemas/api.js';
import { jobViewSchema } from '../../../schemas/job-record.js';
import { auth, type ApiHarness, specInput, startApi } from './api-harness.js';

let h: ApiHarness;

beforeEach(async () => {
  h = await startApi();
});

afterEach(async () => {
  vi.restoreAllMocks();
  await h.close();
});

/** Every `/v1/jobs/:id…` route, for `id`. */
const routes = (id: string): Array<['GET' | 'POST', string]> => [
  ['GET', `/v1/jobs/${id}`],
  ['GET', `/v1/jobs/${id}?waitSeconds=1`],
  ['POST', `/v1/jobs/${id}/cancel`],
  ['GET', `/v1/jobs/${id}/results`],
  ['GET', `/v1/jobs/${id}/deliveries`],
  ['POST', `/v1/jobs/${id}/deliveries/msg_1/retry`],
];

describe('job ids on /v1/jobs/:id routes', () => {
  it('answers 404 JOB_NOT_FOUND to an id of the wrong shape without asking the store, on every route', async () => {
    const created = await h.app.inject({
      method: 'POST',
      url: '/v1/jobs',
      headers: auth('acme'),
      payload: specInput,
    });
    const job = jobViewSchema.parse(created.json());
    // The job's other keys: the legacy set of committed chunks makes `<id>:chunks` a Redis key of another
    // type, which was read as a job record (WRONGTYPE → 500).
    await h.redis.sadd(`${h.prefix}:job:${job.id}:chunks`, '0');
    const get = vi.spyOn(h.store, 'get');
    for (const id of [
      `${job.id}:chunks`,
      `${job.id}:commits`,
      `${job.id}:attempts`,
      job.id.toUpperCase(),
      `${job.id}0`,
      'no-such-job',
      '*',
      'a'.repeat(64),
    ]) {
      for (const [method, url] of routes(encodeURIComponent(id))) {
        const response = await h.app.inject({ method, url, headers: auth('acme') });
        expect(response.statusCode, `${method} ${url}`).toBe(404);
        expect(apiErrorSchema.parse(response.json()).error.code).toBe('JOB_NOT_FOUND');
      }
    }
    expect(get).not.toHaveBeenCalled();
  });

  it('still serves UUID ids and the 32-hex ids of idempotent submissions', async () => {
    const plain = await h.app.inject({
      method: 'POST',
      url: '/v1/jobs',
      headers: auth('acme'),
      payload: specInput,
    });
    const keyed = await h.app.inject({
      method: 'POST',
      url: '/v1/jobs',
      headers: { ...auth('acme'), 'idempotency-key': 'nightly-2026-11-27' },
      payload: specInput,
    });
    const keyedId = jobViewSchema.parse(keyed.json()).id;
    expect(keyedId).toBe(idempotentJobId('acme', 'nightly-2026-11-27'));
    for (const id of [jobViewSchema.parse(plain.json()).id, keyedId]) {
      const read = await h.app.inject({ url: `/v1/jobs/${id}`, headers: auth('acme') });
      expect(read.statusCode).toBe(200);
      expect(jobViewSchema.parse(read.json()).id).toBe(id);
    }
  });
});
