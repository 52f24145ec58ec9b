import fc from 'fast-check';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiErrorSchema } from '../../../schemas/api.js';
import { auth, type ApiHarness, keys, specInput, startApi } from './api-harness.js';

let h: ApiHarness;
const crashes: unknown[] = [];
const onCrash = (error: unknown): void => void crashes.push(error);

beforeAll(async () => {
  process.on('unhandledRejection', onCrash);
  process.on('uncaughtException', onCrash);
  // Limits out of the way: every request must reach validation.
  h = await startApi({ rateLimitMax: 1_000_000, maxActiveJobs: 1_000_000 });
});

afterAll(async () => {
  // The API still answers after everything thrown at it.
  expect((await h.app.inject({ url: '/healthz' })).statusCode).toBe(200);
  await h.close();
  process.off('unhandledRejection', onCrash);
  process.off('uncaughtException', onCrash);
  expect(crashes).toEqual([]);
});

/** Never a 5xx; every 4xx in the one error shape. */
function expectWellFormed(response: LightMyRequestResponse, method = 'GET'): void {
  expect(response.statusCode, response.body).toBeLessThan(500);
  if (response.statusCode >= 400 && method !== 'HEAD') {
    expect(() => apiErrorSchema.parse(response.json()), response.body).not.toThrow();
  }
}

const post = (payload: string | Buffer, headers: Record<string, string> = {}) =>
  h.app.inject({
    method: 'POST',
    url: '/v1/jobs',
    headers: { ...auth('acme'), 'content-type': 'application/json', ...headers },
    payload,
  });

/** Header-safe text (visible ASCII, space and tab): anything else is refused by the HTTP client itself. */
const headerText = (maxLength: number) =>
  fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength });

/** A spec path and every prefix of it, to replace with random values. */
const specPaths = [
  ['name'],
  ['input'],
  ['input', 'uri'],
  ['input', 'format'],
  ['input', 'glob'],
  ['model', 'uri'],
  ['model', 'inputs'],
  ['model', 'inputs', 'features'],
  ['model', 'inputs', 'features', 'columns'],
  ['model', 'outputs'],
  ['output', 'uri'],
  ['output', 'passthrough'],
  ['batch'],
  ['batch', 'rows'],
  ['errors', 'onInvalidRow'],
  ['webhook'],
  ['webhook', 'url'],
  ['webhook', 'secret'],
  ['priority'],
  ['labels'],
  ['__proto__'],
  ['constructor'],
];

function withValueAt(base: unknown, path: readonly string[], value: unknown): unknown {
  const copy = structuredClone(base) as Record<string, unknown>;
  let node = copy;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    node[key] = typeof next === 'object' && next !== null ? next : {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1] ?? 'x'] = value;
  return copy;
}

describe('API fuzz', () => {
  it('answers random JSON bodies with a 4xx in the error shape or a job, never a 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(fc.jsonValue({ maxDepth: 6 }), async (value) => {
        expectWellFormed(await post(JSON.stringify(value)), 'POST');
      }),
      { numRuns: 300 },
    );
  });

  it('survives specs with random values at every field', async () => {
    const statuses = new Set<number>();
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...specPaths),
        fc.oneof(
          fc.jsonValue({ maxDepth: 4 }),
          fc.string({ maxLength: 3000 }),
          fc.constantFrom(-1, 0, 1e308, -0, 2 ** 53 + 1, '', 'ftp://x', 'http://[::1]/', 's3://', 'file:///'),
        ),
        async (path, value) => {
          const response = await post(JSON.stringify(withValueAt(specInput, path, value)));
          statuses.add(response.statusCode);
          expectWellFormed(response, 'POST');
        },
      ),
      { numRuns: 400 },
    );
    // The mutations reach both sides of validation.
    expect(statuses).toContain(201);
    expect(statuses).toContain(400);
  });

  it('survives deep nesting, huge strings and non-JSON bytes sent as JSON', async () => {
    for (const depth of [100, 10_000, 100_000]) {
      expectWellFormed(await post('['.repeat(depth) + ']'.repeat(depth)), 'POST');
      expectWellFormed(await post('{"name":'.repeat(depth) + '1' + '}'.repeat(depth)), 'POST');
    }
    for (const size of [100_000, 1024 * 1024 - 200, 5 * 1024 * 1024]) {
      expectWellFormed(await post(JSON.stringify({ ...specInput, name: 'x'.repeat(size) })), 'POST');
      expectWellFormed(
        await post(JSON.stringify({ ...specInput, labels: { ['k'.repeat(size)]: 'v' } })),
        'POST',
      );
    }
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 2000 }), async (bytes) => {
        expectWellFormed(await post(Buffer.from(bytes)), 'POST');
      }),
      { numRuns: 200 },
    );
  });

  it('survives random Authorization, Idempotency-Key and Content-Type headers', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          headerText(300),
          fc.constantFrom(
            `Bearer ${keys.acme}`,
            `bearer ${keys.globex}`,
            'Bearer ',
            `Bearer ${keys.acme} extra`,
          ),
          headerText(40).map((t) => `Bearer ${t}`),
        ),
        fc.option(headerText(400), { nil: undefined }),
        fc.oneof(
          fc.constantFrom(
            'application/json',
            'application/json; charset=utf-8',
            'application/json; charset=latin1',
            'application/yaml',
            'text/yaml',
            'text/plain',
            'multipart/form-data; boundary=x',
            'application/x-www-form-urlencoded',
            '',
          ),
          headerText(60),
        ),
        fc.oneof(
          fc.constant(JSON.stringify(specInput)),
          fc.constant('input: [1, *a]'),
          fc.constant('a: &a [*a]'),
          fc.string({ maxLength: 500 }),
        ),
        async (authorization, idempotencyKey, contentType, payload) => {
          const response = await h.app.inject({
            method: 'POST',
            url: '/v1/jobs',
            headers: {
              authorization,
              'content-type': contentType,
              ...(idempotencyKey === undefined ? {} : { 'idempotency-key': idempotencyKey }),
            },
            payload,
          });
          expectWellFormed(response, 'POST');
        },
      ),
      { numRuns: 400 },
    );
  });

  it('survives random paths, methods and query strings', async () => {
    const job = await post(JSON.stringify(specInput));
    const id = job.json<{ id: string }>().id;
    const segment = fc.oneof(
      fc.constantFrom('v1', 'jobs', id, 'cancel', 'results', 'deliveries', 'retry', 'msg_1', 'healthz'),
      fc.constantFrom(
        'readyz',
        'docs',
        'static',
        'openapi.json',
        '..',
        '.',
        '%',
        '%zz',
        '%2F',
        '%00',
        '%E0%A4',
      ),
      fc.webSegment(),
      fc.string({ maxLength: 300 }).map(encodeURIComponent),
    );
    const query = fc
      .array(
        fc.tuple(
          fc.constantFrom('waitSeconds', 'limit', 'cursor', 'status', 'label', 'tenant', 'x', '__proto__'),
          fc.oneof(fc.string({ maxLength: 50 }), fc.constantFrom('0', '0.01', '60', '1e3', 'NaN', '[]')),
        ),
        { maxLength: 4 },
      )
      .map((pairs) =>
        pairs.length === 0
          ? ''
          : `?${pairs.map(([k, v]) => `${k}=${encodeURIComponent(v).replace(/%25/g, '%')}`).join('&')}`,
      );
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'),
        fc.array(segment, { minLength: 0, maxLength: 6 }),
        query,
        fc.constantFrom('acme', 'globex', 'ops', undefined),
        async (method, segments, search, tenant) => {
          const response = await h.app.inject({
            method,
            url: `/${segments.join('/')}${search}`,
            headers: tenant === undefined ? {} : auth(tenant),
          });
          expectWellFormed(response, method);
        },
      ),
      { numRuns: 600 },
    );
  });
});
