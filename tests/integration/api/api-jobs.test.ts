import { Redis } from 'ioredis';
import { Worker } from 'bullmq';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { apiErrorSchema, jobListSchema, queueDepthsSchema } from '../../../schemas/api.js';
import { parseWebhookAllowlist } from '../../../services/delivery/ssrf-guard.js';
import { makeQueues } from '../../../services/queue/queues.js';
import { jobViewSchema, type JobView } from '../../../schemas/job-record.js';
import { jobStatusChannel } from '../../../services/queue/job-store.js';
import { auth, type ApiHarness, specInput, startApi } from './api-harness.js';

let h: ApiHarness;

beforeEach(async () => {
  h = await startApi();
});

afterEach(async () => {
  await h.close();
});

function submit(tenant: 'acme' | 'globex' | 'ops', payload: unknown = specInput, key?: string) {
  return h.app.inject({
    method: 'POST',
    url: '/v1/jobs',
    headers: { ...auth(tenant), ...(key === undefined ? {} : { 'idempotency-key': key }) },
    payload: payload as Record<string, unknown>,
  });
}

async function submitted(tenant: 'acme' | 'globex' | 'ops' = 'acme', payload: unknown = specInput) {
  const response = await submit(tenant, payload);
  expect(response.statusCode).toBe(201);
  return jobViewSchema.parse(response.json());
}

/** Asserts the error shape and code, and returns the body. */
function expectError(response: { statusCode: number; json(): unknown }, status: number, code: string) {
  expect(response.statusCode).toBe(status);
  const body = apiErrorSchema.parse(response.json());
  expect(body.error.code).toBe(code);
  return body;
}

describe('POST /v1/jobs', () => {
  it('creates a job (201, Location) without echoing the webhook secret, and queues its planning', async () => {
    const response = await submit('acme');
    expect(response.statusCode).toBe(201);
    const job = jobViewSchema.parse(response.json());
    expect(response.headers.location).toBe(`/v1/jobs/${job.id}`);
    expect(job).toMatchObject({ tenant: 'acme', status: 'queued', spec: { name: 'nightly-fraud' } });
    expect(job.spec.webhook).toEqual({ url: 'https://example.com/hooks/quiver' });
    expect(response.body).not.toContain('whsec_');
    expect(h.queued.plans).toEqual([job.id]);

    const read = await h.app.inject({ url: `/v1/jobs/${job.id}`, headers: auth('acme') });
    expect(read.statusCode).toBe(200);
    expect(read.json()).toEqual(job);
  });

  it('accepts a YAML spec', async () => {
    const yaml = [
      'input: { uri: "s3://events/x/", format: parquet }',
      'model: { uri: "s3://models/m.onnx", inputs: { features: { columns: [f0] } } }',
      'output: { uri: "s3://scores/" }',
    ].join('\n');
    const response = await h.app.inject({
      method: 'POST',
      url: '/v1/jobs',
      headers: { ...auth('acme'), 'content-type': 'application/yaml' },
      payload: yaml,
    });
    expect(response.statusCode).toBe(201);
    const broken = await h.app.inject({
      method: 'POST',
      url: '/v1/jobs',
      headers: { ...auth('acme'), 'content-type': 'text/yaml' },
      payload: 'input: [unclosed',
    });
    expectError(broken, 400, 'MALFORMED_BODY');
  });

  it('returns the same job for the same Idempotency-Key and body (200), 409 for another body', async () => {
    const first = await submit('acme', specInput, 'nightly-2026-11-27');
    expect(first.statusCode).toBe(201);
    const again = await submit('acme', structuredClone(specInput), 'nightly-2026-11-27');
    expect(again.statusCode).toBe(200);
    expect(again.json<JobView>().id).toBe(first.json<JobView>().id);

    const other = await submit('acme', { ...specInput, priority: 1 }, 'nightly-2026-11-27');
    const body = expectError(other, 409, 'IDEMPOTENCY_CONFLICT');
    expect(body.error.message).toContain(first.json<JobView>().id);
    // Keys are per tenant.
    expect((await submit('globex', specInput, 'nightly-2026-11-27')).statusCode).toBe(201);
  });

  it('makes one job of 20 concurrent submissions with one key', async () => {
    const responses = await Promise.all(Array.from({ length: 20 }, () => submit('acme', specInput, 'burst')));
    expect(responses.filter((r) => r.statusCode === 201)).toHaveLength(1);
    expect(responses.filter((r) => r.statusCode === 200)).toHaveLength(19);
    expect(new Set(responses.map((r) => r.json<JobView>().id)).size).toBe(1);
    const list = await h.app.inject({ url: '/v1/jobs', headers: auth('acme') });
    expect(list.json<{ jobs: unknown[] }>().jobs).toHaveLength(1);
  });

  it('reports every spec problem with its field path, unknown fields included', async () => {
    const response = await submit('acme', {
      ...specInput,
      input: { format: 'parquet' },
      webhook: { url: 'ftp://example.com/hook', secret: 'whsec_x' },
      surprise: true,
    });
    const body = expectError(response, 400, 'JOB_SPEC_INVALID');
    expect(body.error.problems).toEqual(
      expect.arrayContaining([
        { path: 'input.uri', message: 'required' },
        { path: 'webhook.url', message: 'expected an http:// or https:// URL' },
        { path: 'surprise', message: 'unknown field' },
      ]),
    );
    for (const payload of ['null', '[]', '"text"', '42']) {
      const response = await h.app.inject({
        method: 'POST',
        url: '/v1/jobs',
        headers: { ...auth('acme'), 'content-type': 'application/json' },
        payload,
      });
      expectError(response, 400, 'JOB_SPEC_INVALID');
    }
    const empty = await h.app.inject({ method: 'POST', url: '/v1/jobs', headers: auth('acme') });
    expect(expectError(empty, 400, 'JOB_SPEC_INVALID').error.problems).toEqual([
      { path: '(root)', message: 'required' },
    ]);
  });

  it('refuses a webhook URL that is not http(s) at once', async () => {
    for (const url of ['file:///etc/passwd', 'gopher://x', 'javascript:alert(1)', 'not a url']) {
      const body = expectError(
        await submit('acme', { ...specInput, webhook: { url, secret: 'whsec_x' } }),
        400,
        'JOB_SPEC_INVALID',
      );
      expect(body.error.problems?.map((p) => p.path)).toEqual(['webhook.url']);
    }
  });

  it('refuses malformed JSON, other content types, a bad Idempotency-Key and a body over the limit', async () => {
    const headers = { ...auth('acme'), 'content-type': 'application/json' };
    expectError(
      await h.app.inject({ method: 'POST', url: '/v1/jobs', headers, payload: '{"input":' }),
      400,
      'MALFORMED_BODY',
    );
    expectError(
      await h.app.inject({
        method: 'POST',
        url: '/v1/jobs',
        headers,
        payload: '{"__proto__":{"polluted":1}}',
      }),
      400,
      'MALFORMED_BODY',
    );
    expectError(
      await h.app.inject({
        method: 'POST',
        url: '/v1/jobs',
        headers: { ...auth('acme'), 'content-type': 'text/plain' },
        payload: 'hello',
      }),
      415,
      'UNSUPPORTED_MEDIA_TYPE',
    );
    const badKey = expectError(await submit('acme', specInput, 'has spaces in it'), 400, 'REQUEST_INVALID');
    expect(badKey.error.problems?.[0]?.path).toBe('headers.idempotency-key');
    // Keys of schedules' daily runs are reserved: a client cannot take over (or collide with) one.
    const reserved = expectError(
      await submit('acme', specInput, 'schedule:nightly:2026-11-28'),
      400,
      'REQUEST_INVALID',
    );
    expect(reserved.error.problems?.[0]).toMatchObject({
      path: 'headers.idempotency-key',
      message: expect.stringContaining('reserved') as unknown,
    });

    const huge = { ...specInput, name: 'x'.repeat(1024 * 1024) };
    expectError(await submit('acme', huge), 413, 'PAYLOAD_TOO_LARGE');
  });

  it('honours a configured body limit', async () => {
    const small = await h.another({ bodyLimitBytes: 1024 });
    const response = await small.inject({
      method: 'POST',
      url: '/v1/jobs',
      headers: auth('acme'),
      payload: { ...specInput, name: 'x'.repeat(2000) },
    });
    expectError(response, 413, 'PAYLOAD_TOO_LARGE');
  });
});

describe('authentication and tenancy', () => {
  it('answers 401 with a Bearer challenge to a missing, malformed or unknown key', async () => {
    const missing = await h.app.inject({ url: '/v1/jobs' });
    expectError(missing, 401, 'UNAUTHENTICATED');
    expect(missing.headers['www-authenticate']).toBe('Bearer realm="quiver"');
    for (const authorization of [
      'Bearer nope',
      `Basic ${Buffer.from('acme:x').toString('base64')}`,
      'Bearer',
      'acme-key-0123456789abcdef',
    ]) {
      const response = await h.app.inject({ url: '/v1/jobs', headers: { authorization } });
      expectError(response, 401, 'UNAUTHENTICATED');
      expect(response.headers['www-authenticate']).toContain('invalid_token');
    }
  });

  it("hides another tenant's job: get, cancel, results, deliveries and retry are 404, lists leave it out", async () => {
    const job = await submitted('acme');
    h.deliveries.records.push({
      id: 'msg_1',
      jobId: job.id,
      event: 'job.succeeded',
      url: 'https://example.com/hooks/quiver',
      status: 'delivered',
      createdAt: job.createdAt,
      updatedAt: job.createdAt,
      attempts: [],
    });
    const asGlobex = (method: 'GET' | 'POST', url: string) =>
      h.app.inject({ method, url, headers: auth('globex') });
    const missing = await asGlobex('GET', '/v1/jobs/no-such-job');
    for (const [method, url] of [
      ['GET', `/v1/jobs/${job.id}`],
      ['GET', `/v1/jobs/${job.id}?waitSeconds=1`],
      ['POST', `/v1/jobs/${job.id}/cancel`],
      ['GET', `/v1/jobs/${job.id}/results`],
      ['GET', `/v1/jobs/${job.id}/deliveries`],
      ['POST', `/v1/jobs/${job.id}/deliveries/msg_1/retry`],
    ] as const) {
      const response = await asGlobex(method, url);
      expectError(response, 404, 'JOB_NOT_FOUND');
      // Exactly what a job that does not exist gets, apart from the id.
      expect(response.body.replace(job.id, 'no-such-job')).toBe(missing.body);
    }
    expect((await h.store.get(job.id))?.status).toBe('queued');
    expect(h.deliveries.retried).toEqual([]);
    const list = await asGlobex('GET', '/v1/jobs');
    expect(jobListSchema.parse(list.json()).jobs).toEqual([]);
    const named = await asGlobex('GET', '/v1/jobs?tenant=acme');
    expectError(named, 403, 'FORBIDDEN');
  });

  it("lets an admin key read and list every tenant's jobs", async () => {
    const a = await submitted('acme');
    const g = await submitted('globex');
    expect((await h.app.inject({ url: `/v1/jobs/${a.id}`, headers: auth('ops') })).statusCode).toBe(200);
    const all = jobListSchema.parse((await h.app.inject({ url: '/v1/jobs', headers: auth('ops') })).json());
    expect(all.jobs.map((j) => j.id)).toEqual([g.id, a.id]);
    const one = jobListSchema.parse(
      (await h.app.inject({ url: '/v1/jobs?tenant=globex', headers: auth('ops') })).json(),
    );
    expect(one.jobs.map((j) => j.id)).toEqual([g.id]);
  });
});

describe('GET /v1/jobs', () => {
  it('pages newest first with no duplicates or gaps, filtered by status and labels', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 17; i++) {
      const labels = { team: i % 2 === 0 ? 'risk' : 'growth', run: `r${i}` };
      ids.push((await submitted('acme', { ...specInput, labels })).id);
    }
    for (const id of ids.filter((_, i) => i % 3 === 0)) await h.store.transition(id, 'cancelling');
    await submitted('globex');

    const walk = async (query: string): Promise<string[]> => {
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const suffix: string = cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`;
        const response = await h.app.inject({ url: `/v1/jobs?${query}${suffix}`, headers: auth('acme') });
        expect(response.statusCode).toBe(200);
        const page = jobListSchema.parse(response.json());
        expect(page.jobs.length).toBeLessThanOrEqual(5);
        seen.push(...page.jobs.map((j) => j.id));
        cursor = page.nextCursor;
      } while (cursor !== null);
      return seen;
    };
    const newestFirst = [...ids].reverse();
    expect(await walk('limit=5')).toEqual(newestFirst);
    expect(await walk('limit=5&status=cancelling')).toEqual(newestFirst.filter((_, i) => (16 - i) % 3 === 0));
    expect(await walk('limit=5&label=team:risk')).toEqual(newestFirst.filter((_, i) => (16 - i) % 2 === 0));
    expect(await walk('limit=5&label=team:risk&label=run:r4')).toEqual([ids[4]]);
    expect(await walk('limit=5&status=succeeded')).toEqual([]);
  });

  it('refuses bad filters and cursors with their paths', async () => {
    const paths = async (query: string) =>
      expectError(
        await h.app.inject({ url: `/v1/jobs?${query}`, headers: auth('acme') }),
        400,
        query.startsWith('cursor') ? 'INVALID_CURSOR' : 'REQUEST_INVALID',
      ).error.problems?.map((p) => p.path);
    expect(await paths('status=done')).toEqual(['query.status']);
    expect(await paths('limit=0')).toEqual(['query.limit']);
    expect(await paths('limit=101')).toEqual(['query.limit']);
    expect(await paths('label=nocolon')).toEqual(['query.label']);
    expect(await paths('sort=asc')).toEqual(['query.sort']);
    expect(await paths('cursor=garbage')).toEqual(['query.cursor']);
  });
});

describe('GET /v1/jobs/:id?waitSeconds', () => {
  it('answers as soon as the status changes', async () => {
    const job = await submitted();
    const started = Date.now();
    const poll = h.app.inject({ url: `/v1/jobs/${job.id}?waitSeconds=20`, headers: auth('acme') });
    await new Promise((resolve) => setTimeout(resolve, 300));
    await h.store.transition(job.id, 'planning');
    const response = await poll;
    const elapsed = Date.now() - started;
    expect(response.statusCode).toBe(200);
    expect(response.json<JobView>().status).toBe('planning');
    expect(elapsed).toBeGreaterThanOrEqual(250);
    expect(elapsed).toBeLessThan(2_000);
  });

  it('answers with the unchanged job once waitSeconds is up, and at once for a finished job', async () => {
    const job = await submitted();
    let started = Date.now();
    const response = await h.app.inject({ url: `/v1/jobs/${job.id}?waitSeconds=1`, headers: auth('acme') });
    expect(response.json<JobView>().status).toBe('queued');
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(Date.now() - started).toBeLessThan(2_500);

    await h.store.transition(job.id, 'failed', { error: { code: 'X', message: 'x' } });
    started = Date.now();
    const done = await h.app.inject({ url: `/v1/jobs/${job.id}?waitSeconds=30`, headers: auth('acme') });
    expect(done.json<JobView>().status).toBe('failed');
    expect(Date.now() - started).toBeLessThan(500);
  });

  it('wakes many waiters on one subscriber connection, and ends held polls when the API closes', async () => {
    const job = await submitted();
    const polls = Array.from({ length: 30 }, () =>
      h.app.inject({ url: `/v1/jobs/${job.id}?waitSeconds=20`, headers: auth('acme') }),
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    // 30 waiters, one subscriber: this API's own connection.
    expect(await h.redis.pubsub('NUMSUB', jobStatusChannel(h.prefix))).toEqual([
      jobStatusChannel(h.prefix),
      1,
    ]);
    await h.store.transition(job.id, 'cancelling');
    for (const response of await Promise.all(polls))
      expect(response.json<JobView>().status).toBe('cancelling');

    const held = h.app.inject({ url: `/v1/jobs/${job.id}?waitSeconds=30`, headers: auth('acme') });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const started = Date.now();
    await h.app.close();
    expect((await held).statusCode).toBe(200);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('refuses waitSeconds outside 0–60', async () => {
    const job = await submitted();
    for (const wait of ['61', '-1', 'soon']) {
      const response = await h.app.inject({
        url: `/v1/jobs/${job.id}?waitSeconds=${wait}`,
        headers: auth('acme'),
      });
      expect(expectError(response, 400, 'REQUEST_INVALID').error.problems?.[0]?.path).toBe(
        'query.waitSeconds',
      );
    }
  });
});

describe('POST /v1/jobs/:id/cancel', () => {
  it('moves a queued job to cancelling and queues its finalize; a finished job is returned unchanged', async () => {
    const job = await submitted();
    const response = await h.app.inject({
      method: 'POST',
      url: `/v1/jobs/${job.id}/cancel`,
      headers: auth('acme'),
    });
    expect(response.statusCode).toBe(200);
    expect(response.json<JobView>().status).toBe('cancelling');
    expect(h.queued.finalizes).toEqual([job.id]);

    await h.store.transition(job.id, 'cancelled');
    const again = await h.app.inject({
      method: 'POST',
      url: `/v1/jobs/${job.id}/cancel`,
      headers: { ...auth('acme'), 'content-type': 'application/json' },
      payload: '{}',
    });
    expect(again.json<JobView>().status).toBe('cancelled');
  });

  it('refuses a job already finalizing (409), an unknown one (404) and a body with fields (400)', async () => {
    const job = await submitted();
    for (const to of ['planning', 'running', 'finalizing'] as const) await h.store.transition(job.id, to);
    const cancel = (id: string, payload?: Record<string, unknown>) =>
      h.app.inject({
        method: 'POST',
        url: `/v1/jobs/${id}/cancel`,
        headers: auth('acme'),
        ...(payload ? { payload } : {}),
      });
    expectError(await cancel(job.id), 409, 'JOB_INVALID_TRANSITION');
    expectError(await cancel('nope'), 404, 'JOB_NOT_FOUND');
    expectError(await cancel(job.id, { force: true }), 400, 'REQUEST_INVALID');
  });
});

describe('deliveries', () => {
  it('lists a job’s deliveries and retries one (202); an unknown delivery is 404', async () => {
    const job = await submitted();
    const record = {
      id: 'msg_abc',
      jobId: job.id,
      event: 'job.failed' as const,
      url: 'https://example.com/hooks/quiver',
      status: 'failed' as const,
      createdAt: job.createdAt,
      updatedAt: job.createdAt,
      attempts: [{ attempt: 1, at: job.createdAt, durationMs: 12, statusCode: 500 }],
    };
    h.deliveries.records.push(record);
    const list = await h.app.inject({ url: `/v1/jobs/${job.id}/deliveries`, headers: auth('acme') });
    expect(list.statusCode).toBe(200);
    expect(list.json()).toEqual({ deliveries: [record] });
    const retry = await h.app.inject({
      method: 'POST',
      url: `/v1/jobs/${job.id}/deliveries/msg_abc/retry`,
      headers: auth('acme'),
    });
    expect(retry.statusCode).toBe(202);
    expect(h.deliveries.retried).toEqual(['msg_abc']);
    expectError(
      await h.app.inject({
        method: 'POST',
        url: `/v1/jobs/${job.id}/deliveries/msg_zzz/retry`,
        headers: auth('acme'),
      }),
      404,
      'DELIVERY_NOT_FOUND',
    );
  });
});

describe('limits', () => {
  it('refuses a job past the tenant’s active-job limit with 429 and Retry-After', async () => {
    const limited = await h.another({ maxActiveJobs: 2, activeJobsRetryAfterSeconds: 7 });
    const post = (tenant: 'acme' | 'globex') =>
      limited.inject({ method: 'POST', url: '/v1/jobs', headers: auth(tenant), payload: specInput });
    expect((await post('acme')).statusCode).toBe(201);
    const second = await post('acme');
    expect(second.statusCode).toBe(201);
    const third = await post('acme');
    expectError(third, 429, 'TOO_MANY_ACTIVE_JOBS');
    expect(third.headers['retry-after']).toBe('7');
    expect((await post('globex')).statusCode).toBe(201);
    // A finished job frees its slot.
    await h.store.transition(second.json<JobView>().id, 'failed');
    expect((await post('acme')).statusCode).toBe(201);
  });

  it('rate limits per tenant across API processes, with Retry-After', async () => {
    const options = { rateLimitMax: 4, rateLimitWindowSeconds: 30 };
    const first = await h.another(options);
    const second = await h.another(options);
    const get = (app: typeof first, tenant: 'acme' | 'globex') =>
      app.inject({ url: '/v1/jobs', headers: auth(tenant) });
    expect((await get(first, 'acme')).statusCode).toBe(200);
    expect((await get(second, 'acme')).statusCode).toBe(200);
    expect((await get(first, 'acme')).statusCode).toBe(200);
    expect((await get(second, 'acme')).statusCode).toBe(200);
    const refused = await get(first, 'acme');
    expectError(refused, 429, 'RATE_LIMITED');
    const retryAfter = Number(refused.headers['retry-after']);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(30);
    expectError(await get(second, 'acme'), 429, 'RATE_LIMITED');
    // Another tenant has its own budget.
    expect((await get(second, 'globex')).statusCode).toBe(200);
  });

  it('answers 429 instead of 401 once a client has failed authentication too often; valid keys still pass', async () => {
    const options = { authFailureLimit: 3, rateLimitWindowSeconds: 30 };
    const first = await h.another(options);
    const second = await h.another(options);
    const guess = (app: typeof first, ip: string) =>
      app.inject({
        url: '/v1/jobs',
        remoteAddress: ip,
        headers: { authorization: 'Bearer not-a-real-key-0123456' },
      });
    expectError(await guess(first, '203.0.113.7'), 401, 'UNAUTHENTICATED');
    expectError(await guess(second, '203.0.113.7'), 401, 'UNAUTHENTICATED');
    expectError(await guess(first, '203.0.113.7'), 401, 'UNAUTHENTICATED');
    // The fourth failure in the window, on either process (the count lives in Redis).
    const refused = await guess(second, '203.0.113.7');
    expectError(refused, 429, 'RATE_LIMITED');
    expect(refused.json<{ error: { message: string } }>().error.message).toContain('203.0.113.7');
    const retryAfter = Number(refused.headers['retry-after']);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(30);
    // Another address has its own count; a valid key from the limited address is served.
    expectError(await guess(first, '198.51.100.9'), 401, 'UNAUTHENTICATED');
    const valid = await first.inject({
      url: '/v1/jobs',
      remoteAddress: '203.0.113.7',
      headers: auth('acme'),
    });
    expect(valid.statusCode).toBe(200);
  });

  it('counts failures by the forwarded client address behind a trusted proxy, by the peer otherwise', async () => {
    const behindProxy = await h.another({ authFailureLimit: 1, trustProxy: ['10.0.0.0/8'] });
    const from = (peer: string, client: string) =>
      behindProxy.inject({
        url: '/v1/jobs',
        remoteAddress: peer,
        headers: { authorization: 'Bearer not-a-real-key-0123456', 'x-forwarded-for': client },
      });
    expectError(await from('10.1.2.3', '198.51.100.1'), 401, 'UNAUTHENTICATED');
    expectError(await from('10.1.2.3', '198.51.100.1'), 429, 'RATE_LIMITED');
    // Another client behind the same proxy is not held up by the first one's failures.
    expectError(await from('10.1.2.3', '198.51.100.2'), 401, 'UNAUTHENTICATED');
    // An untrusted peer's X-Forwarded-For is ignored: its own address is what counts.
    expectError(await from('203.0.113.50', '198.51.100.3'), 401, 'UNAUTHENTICATED');
    expectError(await from('203.0.113.50', '198.51.100.4'), 429, 'RATE_LIMITED');
  });
});

describe('public routes', () => {
  it('serves health, readiness, the OpenAPI 3.1 document with every route, and the docs page', async () => {
    expect((await h.app.inject({ url: '/healthz' })).json()).toEqual({ status: 'ok' });
    expect((await h.app.inject({ url: '/readyz' })).json()).toEqual({ status: 'ready' });

    const openapi = (await h.app.inject({ url: '/openapi.json' })).json<{
      openapi: string;
      paths: Record<string, Record<string, unknown>>;
    }>();
    expect(openapi.openapi).toBe('3.1.0');
    expect(
      Object.entries(openapi.paths).flatMap(([path, methods]) =>
        Object.keys(methods).map((m) => `${m} ${path}`),
      ),
    ).toEqual(
      expect.arrayContaining([
        'post /v1/jobs',
        'get /v1/jobs',
        'get /v1/jobs/{id}',
        'post /v1/jobs/{id}/cancel',
        'get /v1/jobs/{id}/results',
        'get /v1/jobs/{id}/deliveries',
        'post /v1/jobs/{id}/deliveries/{deliveryId}/retry',
        'get /healthz',
        'get /readyz',
      ]),
    );
    expect(JSON.stringify(openapi.paths['/v1/jobs']?.post)).toContain('idempotency-key');

    const docs = await h.app.inject({ url: '/docs' });
    expect(docs.statusCode).toBe(200);
    expect(docs.headers['content-type']).toContain('text/html');
    expect(docs.body).not.toMatch(/https?:\/\/(?!localhost)[^"']*\.(js|css)/);
    const bundle = await h.app.inject({ url: '/docs/static/swagger-ui-bundle.js' });
    expect(bundle.statusCode).toBe(200);
  });

  it('reports not ready (503) while Redis does not answer, and still serves /healthz', async () => {
    const unreachable = new Redis('redis://127.0.0.1:1', {
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      retryStrategy: () => null,
    });
    unreachable.on('error', () => undefined);
    const cut = await startApi({}, { redis: unreachable });
    try {
      expectError(await cut.app.inject({ url: '/readyz' }), 503, 'NOT_READY');
      expect((await cut.app.inject({ url: '/healthz' })).statusCode).toBe(200);
    } finally {
      await cut.close();
      unreachable.disconnect();
    }
  });

  it('answers unknown routes 404 in the error shape', async () => {
    for (const url of ['/nope', '/v1/nope', '/v2/jobs', '/v1/jobs/x/y/z']) {
      expectError(await h.app.inject({ url, headers: auth('acme') }), 404, 'ROUTE_NOT_FOUND');
    }
    expectError(await h.app.inject({ method: 'DELETE', url: '/v1/jobs' }), 404, 'ROUTE_NOT_FOUND');
    expectError(await h.app.inject({ url: '/v1/jobs/%E0%A4%A' }), 400, 'BAD_URL');
  });
});

describe('webhook URLs at submission (SSRF guard)', () => {
  it('refuses literal loopback, private, link-local and mapped addresses at webhook.url, unless allowed', async () => {
    const withHook = (url: string) => ({ ...specInput, webhook: { url, secret: 'whsec_c2VjcmV0' } });
    for (const url of [
      'http://127.0.0.1/hook',
      'http://[::1]:8080/hook',
      'http://10.1.2.3/hook',
      'http://169.254.169.254/latest/meta-data/',
      'http://[::ffff:127.0.0.1]/hook',
      'http://2130706433/hook',
    ]) {
      const body = expectError(await submit('acme', withHook(url)), 400, 'JOB_SPEC_INVALID');
      expect(body.error.problems, url).toEqual([
        { path: 'webhook.url', message: expect.stringContaining('WEBHOOK_URL_REFUSED') as unknown },
      ]);
    }
    // Public addresses and hostnames go through (hostnames are checked when delivered).
    expect((await submit('acme', withHook('https://93.184.215.14/hook'))).statusCode).toBe(201);
    expect((await submit('acme', withHook('https://hooks.example.com/quiver'))).statusCode).toBe(201);

    const allowing = await h.another({ webhookAllow: parseWebhookAllowlist('127.0.0.1/32') });
    const allowed = await allowing.inject({
      method: 'POST',
      url: '/v1/jobs',
      headers: auth('acme'),
      payload: withHook('http://127.0.0.1:9999/hook'),
    });
    expect(allowed.statusCode).toBe(201);
  });
});

describe('GET /v1/queues', () => {
  it('gives an admin the depth of every queue from BullMQ, and refuses tenants (403)', async () => {
    const queues = makeQueues(h.redis, h.prefix);
    try {
      await queues.score.addBulk(
        Array.from({ length: 3 }, (_, i) => ({
          name: 'score',
          data: { jobId: 'j', chunk: {} as never },
          opts: { jobId: `j-chunk-${i}`, priority: i + 1 },
        })),
      );
      const twoChunks = Array.from({ length: 2 }, (_, index) => ({ index }) as never);
      await queues.enqueueChunks('g', twoChunks, 5, 'gpu');
      await queues.deliver.add('deliver', { deliveryId: 'msg_x', jobId: 'j', attempt: 2 }, { delay: 60_000 });
      const response = await h.app.inject({ url: '/v1/queues', headers: auth('ops') });
      expect(response.statusCode).toBe(200);
      expect(queueDepthsSchema.parse(response.json())).toMatchObject({
        // Each device class apart, and `score` their total (what existing triggers read).
        score: { waiting: 5, prioritized: 5, active: 0, delayed: 0, backlog: 5 },
        'score-any': { waiting: 3, prioritized: 3, backlog: 3 },
        'score-gpu': { waiting: 2, prioritized: 2, backlog: 2 },
        'score-cpu': { waiting: 0, backlog: 0 },
        deliver: { waiting: 0, delayed: 1 },
        plan: { waiting: 0 },
      });
      expectError(await h.app.inject({ url: '/v1/queues', headers: auth('acme') }), 403, 'ADMIN_REQUIRED');
      expect((await h.app.inject({ url: '/v1/queues' })).statusCode).toBe(401);
      const openapi = (await h.app.inject({ url: '/openapi.json' })).json<{
        paths: Record<string, unknown>;
      }>();
      expect(Object.keys(openapi.paths)).toContain('/v1/queues');
    } finally {
      await queues.close();
    }
  });

  it("gives each pool's KEDA triggers its classes' backlog, delayed and running chunks included", async () => {
    // The triggers as deployed: each ScaledObject's URL paths, valueLocations and (when it sums several
    // triggers) its scaling-modifier formula, read the way KEDA's metrics-api scaler does.
    interface Trigger {
      name?: string;
      metadata: Record<string, string>;
    }
    interface ScaledObject {
      kind?: string;
      metadata: { name: string };
      spec: { triggers: Trigger[]; advanced?: { scalingModifiers?: { formula: string; target: string } } };
    }
    const scaled = parseAllDocuments(
      await readFile(join(import.meta.dirname, '../../../infra/k8s/autoscaling.yaml'), 'utf8'),
    )
      .map((d) => d.toJS() as ScaledObject)
      .filter((m) => m.kind === 'ScaledObject');
    const pool = (name: string): ScaledObject => {
      const found = scaled.find((m) => m.metadata.name === name);
      if (!found) throw new Error(`no ScaledObject ${name} in infra/k8s/autoscaling.yaml`);
      return found;
    };
    const readTrigger = async ({ metadata }: Trigger): Promise<number> => {
      const response = await h.app.inject({ url: new URL(metadata.url!).pathname, headers: auth('ops') });
      let value: unknown = response.json();
      for (const key of metadata.valueLocation!.split('.')) value = (value as Record<string, unknown>)[key];
      return value as number;
    };
    /** The pool's one metric: its only trigger, or the sum its formula (`a + b`) makes of named ones. */
    const read = async (name: string): Promise<number> => {
      const { triggers, advanced } = pool(name).spec;
      const formula = advanced?.scalingModifiers?.formula;
      if (formula === undefined) {
        expect(triggers, name).toHaveLength(1);
        return readTrigger(triggers[0]!);
      }
      const terms = formula.split('+').map((t) => t.trim());
      expect(terms.sort(), name).toEqual(triggers.map((t) => t.name).sort());
      const values = await Promise.all(triggers.map(readTrigger));
      return values.reduce((n, v) => n + v, 0);
    };
    const pools = async () => ({
      cpu: await read('quiver-worker-cpu'),
      gpu: await read('quiver-worker-gpu'),
    });

    const queues = makeQueues(h.redis, h.prefix);
    try {
      expect(await pools()).toEqual({ cpu: 0, gpu: 0 });
      // A retry waiting out its backoff: delayed only.
      await queues.score.add(
        'score',
        { jobId: 'j', chunk: {} as never },
        { jobId: 'j-chunk-0', delay: 60_000 },
      );
      expect(await pools()).toEqual({ cpu: 1, gpu: 0 });
      // A chunk being scored: active only (taken by a worker that holds it).
      await queues.score.add(
        'score',
        { jobId: 'j', chunk: {} as never },
        { jobId: 'j-chunk-1', priority: 1 },
      );
      const worker = new Worker('score', null, { connection: h.redis, prefix: h.prefix });
      try {
        expect(await worker.getNextJob('token')).toBeDefined();
        expect(await queues.depths()).toMatchObject({ score: { waiting: 0, active: 1, delayed: 1 } });
        expect(await pools()).toEqual({ cpu: 2, gpu: 0 });
      } finally {
        await worker.close(true);
      }
      // GPU work scales the GPU pool only; CPU work adds to the CPU pool's `any` backlog.
      const chunks = (n: number) => Array.from({ length: n }, (_, index) => ({ index }) as never);
      await queues.enqueueChunks('g', chunks(3), 5, 'gpu');
      await queues.enqueueChunks('c', chunks(4), 5, 'cpu');
      expect(await pools()).toEqual({ cpu: 6, gpu: 3 });
      // `score.backlog`, what triggers written before device classes read, is still the whole backlog.
      expect((await queues.depths()).score.backlog).toBe(9);
    } finally {
      await queues.close();
    }
  });
});
