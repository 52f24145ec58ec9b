import fc from 'fast-check';
import { readFile } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { modelPath } from '../../../scripts/lib/models.js';
import { parseJobSpec } from '../../../schemas/job-spec.js';
import { type JobView, jobViewSchema } from '../../../schemas/job-record.js';
import { makeApi } from '../../../services/api/make-api.js';
import { type CountingStorage, countingStorage } from '../../helpers/counting-storage.js';
import { makeTenancy, tenantStorage } from '../../../services/tenancy/tenancy.js';
import { featureColumns, startPipeline, writeDataset, type TestPipeline } from '../../helpers/pipeline.js';
import { startS3Server, type TestS3Server } from '../../helpers/s3-server.js';
import { apiKeys, auth, fakeDeliveries } from './api-harness.js';

const tenancy = makeTenancy(
  {
    acme: {
      keys: [],
      admin: false,
      storage: { read: ['s3://events/acme/', 's3://models/acme/'], write: ['s3://acme/'] },
      limits: { maxPriority: 3 },
    },
    globex: {
      keys: [],
      admin: false,
      storage: { read: ['s3://events/globex/', 's3://models/globex/'], write: ['s3://globex/'] },
    },
    ops: { keys: [], admin: true, storage: { read: [], write: [] } },
  },
  'enforce',
);

const model = (uri: string, sha256?: string) => ({
  uri,
  ...(sha256 ? { sha256 } : {}),
  inputs: { features: { columns: featureColumns } },
  outputs: { score: { column: 'score' } },
});

const acmeSpec = (overrides: Record<string, unknown> = {}) => ({
  input: { uri: 's3://events/acme/day/', format: 'parquet' },
  model: model('s3://models/acme/mlp.onnx'),
  output: { uri: 's3://acme/scores/', passthrough: ['id'] },
  batch: { chunkRows: 4_096 },
  ...overrides,
});

describe('tenant storage grants (API + pipeline, real Redis, s3rver, ONNX Runtime)', () => {
  let s3: TestS3Server;
  let counted: CountingStorage;
  let pipeline: TestPipeline;
  let app: FastifyInstance;
  let globexDigest: string;

  beforeAll(async () => {
    s3 = await startS3Server();
    for (const bucket of ['events', 'models', 'acme', 'acme-b', 'globex']) await s3.createBucket(bucket);
    const mlp = await readFile(await modelPath('tabular-mlp'));
    await s3.storage.write('s3://models/acme/mlp.onnx', mlp);
    const tree = await readFile(await modelPath('tree-ensemble'));
    await s3.storage.write('s3://models/globex/tree.onnx', tree);
    globexDigest = (await import('node:crypto')).createHash('sha256').update(tree).digest('hex');
    await writeDataset(s3.storage, 's3://events/acme/day/', [['a.parquet', 0, 8_192]]);
    await writeDataset(s3.storage, 's3://events/globex/day/', [['g.parquet', 0, 4_096]]);
    await writeDataset(s3.storage, 's3://acme-b/day/', [['b.parquet', 0, 100]]);
    counted = countingStorage(s3.storage);
    pipeline = await startPipeline({ storage: counted, storageFor: tenantStorage(counted, tenancy) });
    app = await makeApi({
      store: pipeline.store,
      queues: pipeline.queues,
      storage: counted,
      deliveries: fakeDeliveries(),
      redis: pipeline.redis,
      prefix: pipeline.prefix,
      keys: apiKeys,
      tenancy,
    });
    await app.ready();
  }, 60_000);

  afterAll(async () => {
    await app?.close();
    await pipeline?.close();
    await s3?.close();
  });

  beforeEach(() => counted.resetCounts());

  async function settle(id: string, tenant: 'acme' | 'globex' = 'acme'): Promise<JobView> {
    let job: JobView | undefined;
    const deadline = Date.now() + 60_000;
    do {
      const polled = await app.inject({ url: `/v1/jobs/${id}?waitSeconds=10`, headers: auth(tenant) });
      job = jobViewSchema.parse(polled.json());
    } while (!['succeeded', 'failed', 'cancelled'].includes(job.status) && Date.now() < deadline);
    return job;
  }

  it.each([
    ['another tenant’s input', { input: { uri: 's3://events/globex/day/', format: 'parquet' } }, 'input.uri'],
    [
      'another tenant’s output',
      { output: { uri: 's3://globex/stolen/', passthrough: ['id'] } },
      'output.uri',
    ],
    ['another tenant’s model', { model: model('s3://models/globex/tree.onnx') }, 'model.uri'],
    [
      'another tenant’s cached model by its pinned digest',
      { model: model('s3://models/globex/tree.onnx', 'a'.repeat(64)) },
      'model.uri',
    ],
    ['the workers’ disk', { input: { uri: 'file:///etc/passwd', format: 'csv' } }, 'input.uri'],
    ['a .. traversal', { input: { uri: 's3://events/acme/../globex/day/', format: 'parquet' } }, 'input.uri'],
    [
      'a percent-encoded traversal',
      { input: { uri: 's3://events/acme/%2E%2E/globex/day/', format: 'parquet' } },
      'input.uri',
    ],
    ['a sibling bucket', { output: { uri: 's3://acme-b/scores/', passthrough: ['id'] } }, 'output.uri'],
  ])(
    'refuses %s with 403 STORAGE_FORBIDDEN at its field, reading and writing nothing',
    async (_why, overrides, path) => {
      const response = await app.inject({
        method: 'POST',
        url: '/v1/jobs',
        headers: auth('acme'),
        payload: acmeSpec(overrides),
      });
      expect(response.statusCode, response.body).toBe(403);
      const body = response.json<{
        error: { code: string; message: string; problems: Array<{ path: string }> };
      }>();
      expect(body.error.code).toBe('STORAGE_FORBIDDEN');
      expect(body.error.problems.map((p) => p.path)).toEqual([path]);
      expect(body.error.message).toContain('s3://');
      expect(counted.counts).toMatchObject({ list: 0, stat: 0, read: 0, write: 0, delete: 0 });
      const listed = await app.inject({ url: '/v1/jobs', headers: auth('acme') });
      expect(listed.json<{ jobs: unknown[] }>().jobs).toEqual([]);
    },
  );

  it('never answers 5xx to random URIs in any field (fast-check), and never lets one outside the grants in', async () => {
    const segment = fc.oneof(
      fc.constantFrom(
        'acme',
        'globex',
        'events',
        '..',
        '.',
        '',
        '%2e%2E',
        '%2F',
        '%252e',
        'day',
        'a b',
        '\u00e9',
      ),
      fc.string({ maxLength: 6 }),
    );
    const uri = fc.oneof(
      fc
        .tuple(
          fc.constantFrom('s3://', 'file://', 'file:///', 'S3://', 'http://', ''),
          fc.array(segment, { maxLength: 5 }),
        )
        .map(([scheme, parts]) => `${scheme}${parts.join('/')}`),
      fc.string({ maxLength: 40 }),
    );
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('input', 'output', 'model'), uri, async (field, value) => {
        const base = acmeSpec();
        const payload =
          field === 'input'
            ? { ...base, input: { ...base.input, uri: value } }
            : field === 'output'
              ? { ...base, output: { ...base.output, uri: value } }
              : { ...base, model: { ...base.model, uri: value } };
        const response = await app.inject({
          method: 'POST',
          url: '/v1/jobs',
          headers: auth('acme'),
          payload,
        });
        expect(response.statusCode, `${field}.uri ${JSON.stringify(value)}: ${response.body}`).toBeLessThan(
          500,
        );
        if (response.statusCode === 201) {
          // Admitted: the URI must lie under acme's grants, in canonical form.
          const granted =
            field === 'output' ? ['s3://acme/'] : ['s3://events/acme/', 's3://models/acme/', 's3://acme/'];
          const plain = decodeURIComponent(value).replace(/^s3:/i, 's3:');
          expect(
            granted.some((g) => plain.startsWith(g) || plain === g.slice(0, -1)),
            value,
          ).toBe(true);
          await app.inject({
            method: 'POST',
            url: `/v1/jobs/${response.json<JobView>().id}/cancel`,
            headers: auth('acme'),
          });
        }
      }),
      { numRuns: 300 },
    );
    expect(counted.counts.write).toBe(0);
  });

  it('refuses a pinned digest of another tenant’s cached model under the tenant’s own URI', async () => {
    // globex scores with its model: the worker's cache now holds those bytes under their digest.
    const globex = await app.inject({
      method: 'POST',
      url: '/v1/jobs',
      headers: auth('globex'),
      payload: {
        input: { uri: 's3://events/globex/day/', format: 'parquet' },
        model: model('s3://models/globex/tree.onnx', globexDigest),
        output: { uri: 's3://globex/scores/', passthrough: ['id'] },
      },
    });
    expect(globex.statusCode, globex.body).toBe(201);
    expect((await settle(globex.json<JobView>().id, 'globex')).status).toBe('succeeded');
    // acme names the digest under a URI of its own that does not hold those bytes: the cache is not used.
    const response = await app.inject({
      method: 'POST',
      url: '/v1/jobs',
      headers: auth('acme'),
      payload: acmeSpec({ model: model('s3://models/acme/mlp.onnx', globexDigest) }),
    });
    expect(response.statusCode).toBe(201);
    const job = await settle(response.json<JobView>().id);
    expect(job.status).toBe('failed');
    expect(job.error?.code).toBe('MODEL_DIGEST_MISMATCH');
  });

  it('refuses an output inside the job’s own input with 400 OUTPUT_OVERLAPS_INPUT', async () => {
    const grantsBoth = {
      input: { uri: 's3://acme/in/', format: 'parquet' },
      output: { uri: 's3://acme/in/scored/' },
    };
    const response = await app.inject({
      method: 'POST',
      url: '/v1/jobs',
      headers: auth('acme'),
      payload: acmeSpec(grantsBoth),
    });
    expect(response.statusCode, response.body).toBe(400);
    expect(
      response.json<{ error: { code: string; problems: Array<{ path: string }> } }>().error,
    ).toMatchObject({
      code: 'OUTPUT_OVERLAPS_INPUT',
      problems: [{ path: 'output.uri' }],
    });
  });

  it('runs the tenant’s own job to success', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/v1/jobs',
      headers: auth('acme'),
      payload: acmeSpec(),
    });
    expect(response.statusCode, response.body).toBe(201);
    const job = await settle(response.json<JobView>().id);
    expect(job.status, JSON.stringify(job.error)).toBe('succeeded');
    expect(job.progress.rowsScored).toBe(8_192);
  });

  it('checks again at planning and before writing: a spec placed in Redis directly fails with STORAGE_FORBIDDEN', async () => {
    // Bypassing the API: an input outside the grants is never listed; an output outside them never written.
    const foreignInput = await pipeline.store.create(
      parseJobSpec(acmeSpec({ input: { uri: 's3://events/globex/day/', format: 'parquet' } })),
      { tenant: 'acme' },
    );
    await pipeline.queues.enqueuePlan(foreignInput.record.id, 5);
    const planned = await pipeline.settle(foreignInput.record.id);
    expect(planned.status).toBe('failed');
    expect(planned.error).toMatchObject({ code: 'STORAGE_FORBIDDEN' });
    expect(counted.counts.reads.filter((r) => r.uri.includes('/globex/'))).toEqual([]);

    counted.resetCounts();
    const foreignOutput = await pipeline.store.create(
      parseJobSpec(acmeSpec({ output: { uri: 's3://globex/injected/', passthrough: ['id'] } })),
      { tenant: 'acme' },
    );
    await pipeline.queues.enqueuePlan(foreignOutput.record.id, 5);
    const written = await pipeline.settle(foreignOutput.record.id);
    expect(written.status).toBe('failed');
    expect(written.error?.code).toBe('STORAGE_FORBIDDEN');
    expect(written.error?.message).toContain('s3://globex/injected/');
    const globexObjects: string[] = [];
    for await (const o of s3.storage.list('s3://globex/injected/')) globexObjects.push(o.uri);
    expect(globexObjects).toEqual([]);
  });

  it('refuses a priority more urgent than the tenant’s maxPriority with 403 PRIORITY_FORBIDDEN at `priority`', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/v1/jobs',
      headers: auth('acme'),
      payload: acmeSpec({ priority: 2 }),
    });
    expect(response.statusCode, response.body).toBe(403);
    const body = response.json<{
      error: { code: string; message: string; problems: Array<{ path: string; message: string }> };
    }>();
    expect(body.error.code).toBe('PRIORITY_FORBIDDEN');
    expect(body.error.message).toContain('priority: 2 is more urgent than the tenant may ask for (3 to 10');
    expect(body.error.problems.map((p) => p.path)).toEqual(['priority']);
    expect(body.error.problems[0]?.message).toContain('2 is more urgent');
    expect(counted.counts).toMatchObject({ list: 0, stat: 0, read: 0, write: 0 });
    // globex has no limit: the most urgent priority is its to use.
    const globex = await app.inject({
      method: 'POST',
      url: '/v1/jobs',
      headers: auth('globex'),
      payload: {
        input: { uri: 's3://events/globex/day/', format: 'parquet' },
        model: model('s3://models/acme/mlp.onnx'),
        output: { uri: 's3://globex/scores/' },
        priority: 1,
      },
    });
    // Refused for its model's grant, not for its priority.
    expect(globex.json<{ error: { code: string } }>().error.code).toBe('STORAGE_FORBIDDEN');
  });
});
