import { describe, expect, it } from 'vitest';
import { makeApiClient } from '../../../services/cli/api-client.js';
import { ApiRequestError } from '../../../services/cli/errors/api-request-error.js';
import { ApiResponseInvalid } from '../../../services/cli/errors/api-response-invalid.js';
import { ApiUnreachable } from '../../../services/cli/errors/api-unreachable.js';
import { fakeFetch, jobView, json } from './fixtures.js';

const client = (impl: typeof fetch, timeoutMs?: number) =>
  makeApiClient({
    baseUrl: 'http://api.test:8080/',
    apiKey: 'secret',
    fetch: impl,
    ...(timeoutMs ? { timeoutMs } : {}),
  });

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

describe('API client', () => {
  it('sends the key, the body and the idempotency key; tells created from existing', async () => {
    const view = jobView();
    const fetch = fakeFetch((_url, init) =>
      json(init.headers && 'idempotency-key' in init.headers ? 200 : 201, view),
    );
    const api = client(fetch.impl);
    expect(await api.submitJob({ name: 'x' })).toEqual({ job: view, created: true });
    expect(await api.submitJob({ name: 'x' }, { idempotencyKey: 'k1' })).toEqual({
      job: view,
      created: false,
    });
    const [first, second] = fetch.calls;
    expect(first?.url.href).toBe('http://api.test:8080/v1/jobs');
    expect(first?.init.method).toBe('POST');
    expect(first?.init.body).toBe('{"name":"x"}');
    expect(first?.init.headers).toMatchObject({
      authorization: 'Bearer secret',
      'content-type': 'application/json',
    });
    expect(second?.init.headers).toMatchObject({ 'idempotency-key': 'k1' });
  });

  it('builds paths and queries: long-poll wait, list filters, escaped ids', async () => {
    const fetch = fakeFetch((url) =>
      url.pathname === '/v1/jobs' ? json(200, { jobs: [jobView()], nextCursor: 'c2' }) : json(200, jobView()),
    );
    const api = client(fetch.impl);
    await api.getJob('a/b', { waitSeconds: 2 });
    await api.getJob('a');
    const page = await api.listJobs({
      status: 'running',
      labels: ['team:risk', 'env:prod'],
      limit: 5,
      cursor: 'c1',
    });
    await api.cancelJob('a');
    expect(page.nextCursor).toBe('c2');
    expect(fetch.calls.map((c) => `${c.init.method} ${c.url.pathname}${c.url.search}`)).toEqual([
      'GET /v1/jobs/a%2Fb?waitSeconds=2',
      'GET /v1/jobs/a',
      'GET /v1/jobs?status=running&label=team%3Arisk&label=env%3Aprod&limit=5&cursor=c1',
      'POST /v1/jobs/a/cancel',
    ]);
    expect(fetch.calls[3]?.init.body).toBeUndefined();
  });

  it("turns an error body into ApiRequestError with the API's code, status and field paths", async () => {
    const fetch = fakeFetch(() =>
      json(400, {
        error: {
          code: 'JOB_SPEC_INVALID',
          message: '1 problem',
          problems: [{ path: 'input.format', message: 'expected parquet|arrow|csv|jsonl' }],
        },
      }),
    );
    const error = await rejection(client(fetch.impl).submitJob({}));
    expect(error).toBeInstanceOf(ApiRequestError);
    const e = error as ApiRequestError;
    expect([e.status, e.code]).toEqual([400, 'JOB_SPEC_INVALID']);
    expect(e.message).toContain('input.format: expected parquet');
  });

  it('names an error body that is not the API shape by its HTTP status, and hints at the key on 401', async () => {
    const proxy = await rejection(
      client(fakeFetch(() => new Response('Bad Gateway', { status: 502 })).impl).getJob('x'),
    );
    expect(proxy).toMatchObject({ status: 502, code: 'HTTP_502' });
    const auth = await rejection(
      client(
        fakeFetch(() => json(401, { error: { code: 'UNAUTHORIZED', message: 'unknown key' } })).impl,
      ).getJob('x'),
    );
    expect((auth as Error).message).toMatch(/UNAUTHORIZED: unknown key[\s\S]*QUIVER_API_KEY/);
  });

  it('names a network failure: where it tried to connect, and why', async () => {
    const refused = fakeFetch(() => {
      throw new TypeError('fetch failed', {
        cause: Object.assign(new Error('connect'), { code: 'ECONNREFUSED' }),
      });
    });
    const error = await rejection(client(refused.impl).getJob('x'));
    expect(error).toBeInstanceOf(ApiUnreachable);
    expect((error as Error).message).toBe(
      'API_UNREACHABLE: cannot reach the Quiver API at http://api.test:8080 (is `quiver api` running? set QUIVER_API_URL or --api-url): ECONNREFUSED',
    );
  });

  it('gives up on a silent API after the timeout plus the long-poll wait', async () => {
    const hang = fakeFetch(
      (_url, init) =>
        new Promise<Response>((_resolve, reject) =>
          init.signal?.addEventListener('abort', () => reject(init.signal?.reason as Error)),
        ),
    );
    const error = await rejection(client(hang.impl, 50).getJob('x', { waitSeconds: 0.1 }));
    expect(error).toBeInstanceOf(ApiUnreachable);
    expect((error as Error).message).toContain('no answer within 0.15 s');
  });

  it('refuses a 2xx answer that does not match the contract', async () => {
    const error = await rejection(client(fakeFetch(() => json(200, { id: 'x' })).impl).getJob('x'));
    expect(error).toBeInstanceOf(ApiResponseInvalid);
    const html = await rejection(client(fakeFetch(() => new Response('<html>')).impl).getJob('x'));
    expect((html as Error).message).toMatch(/API_RESPONSE_INVALID: .*not JSON/);
  });
});
