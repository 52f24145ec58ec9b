import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiErrorSchema } from '../../../schemas/api.js';
import { parseApiOptions } from '../../../services/api/api-options.js';
import { auth, type ApiHarness, specInput, startApi } from './api-harness.js';

let h: ApiHarness;

beforeAll(async () => {
  h = await startApi();
});

afterAll(async () => {
  await h?.close();
});

const submit = (payload: unknown) =>
  h.app.inject({
    method: 'POST',
    url: '/v1/jobs',
    headers: auth('acme'),
    payload: payload as Record<string, unknown>,
  });

const columns = (n: number) => Array.from({ length: n }, (_, i) => `c${i}`);

describe('POST /v1/jobs: spec limits', () => {
  it('answers 400 JOB_SPEC_INVALID with the field path of each limit a spec breaks', async () => {
    const response = await submit({
      ...specInput,
      input: { ...specInput.input, uri: `s3://events/${'x'.repeat(2_100)}/` },
      output: { ...specInput.output, passthrough: columns(1_001) },
      batch: { chunkRows: 500 },
      labels: Object.fromEntries(columns(33).map((c) => [c, 'v'])),
    });
    expect(response.statusCode).toBe(400);
    const body = apiErrorSchema.parse(response.json());
    expect(body.error.code).toBe('JOB_SPEC_INVALID');
    expect(body.error.problems).toEqual([
      { path: 'input.uri', message: '2113 bytes, over the 2048-byte limit' },
      { path: 'output.passthrough', message: '1001 columns, over the limit of 1000' },
      { path: 'labels', message: 'at most 32 labels' },
      { path: 'batch.chunkRows', message: 'at least 1000 rows per chunk' },
    ]);
    expect(h.queued.plans).toEqual([]);
  });

  it('takes its limits from the API options (QUIVER_SPEC_*)', async () => {
    const strict = await h.another({ specMaxLabels: 1, specMinChunkRows: 10_000 });
    const response = await strict.inject({
      method: 'POST',
      url: '/v1/jobs',
      headers: auth('acme'),
      payload: { ...specInput, batch: { chunkRows: 5_000 }, labels: { a: '1', b: '2' } },
    });
    expect(response.statusCode).toBe(400);
    expect(apiErrorSchema.parse(response.json()).error.problems).toEqual([
      { path: 'labels', message: 'at most 1 labels' },
      { path: 'batch.chunkRows', message: 'at least 10000 rows per chunk' },
    ]);
    const parsed = parseApiOptions([], { QUIVER_SPEC_MAX_LABELS: '1', QUIVER_SPEC_MIN_CHUNK_ROWS: '10000' });
    expect(parsed).toEqual({ specMaxLabels: 1, specMinChunkRows: 10_000 });
  });

  it('fuzz over spec sizes: 201 or 400 JOB_SPEC_INVALID, never a 5xx', async () => {
    const text = fc.oneof(
      fc.string({ minLength: 1, maxLength: 20 }),
      fc.string({ unit: 'binary', minLength: 600, maxLength: 2_600 }),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          glob: text,
          passthrough: fc.oneof(
            fc.array(text, { maxLength: 3 }),
            fc.integer({ min: 995, max: 1_005 }).map(columns),
          ),
          mapped: fc.integer({ min: 1, max: 1_100 }).map(columns),
          labels: fc.integer({ min: 0, max: 40 }),
          chunkRows: fc.integer({ min: 1, max: 5_000 }),
        }),
        async ({ glob, passthrough, mapped, labels, chunkRows }) => {
          const response = await submit({
            ...specInput,
            input: { ...specInput.input, glob },
            model: { ...specInput.model, inputs: { features: { columns: mapped } } },
            output: { ...specInput.output, passthrough },
            batch: { chunkRows },
            labels: Object.fromEntries(columns(labels).map((c) => [c, 'v'])),
          });
          expect([201, 400]).toContain(response.statusCode);
          if (response.statusCode === 400)
            expect(apiErrorSchema.parse(response.json()).error.code).toBe('JOB_SPEC_INVALID');
        },
      ),
      { numRuns: 40 },
    );
  });
});
