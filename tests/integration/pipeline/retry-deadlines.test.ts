import { randomBytes, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { retryJob } from '../../../jobs/retry-job.js';
import { submitJob } from '../../../jobs/submit-job.js';
import { StorageAccessDenied } from '../../../jobs/ports/errors/storage-access-denied.js';
import type { Storage } from '../../../jobs/ports/storage.js';
import type { ApiError } from '../../../schemas/api.js';
import { jobViewSchema, type JobRecord } from '../../../schemas/job-record.js';
import type { JobSpecInput } from '../../../schemas/job-spec.js';
import { webhookEventSchema } from '../../../schemas/webhook-event.js';
import { makeApi } from '../../../services/api/make-api.js';
import { compileDeliveryOptions } from '../../../services/delivery/delivery-options.js';
import { makeRedisDeliveries } from '../../../services/delivery/redis-deliveries.js';
import { makeFormatReaders } from '../../../services/formats/make-reader.js';
import { type DeadlineSweeper, startDeadlineSweeper } from '../../../services/queue/deadline-sweeper.js';
import { makeRedisJobStore } from '../../../services/queue/job-store.js';
import { makeQueues } from '../../../services/queue/queues.js';
import { modelPath } from '../../../scripts/lib/models.js';
import { makeRecordingLog } from '../../helpers/recording-log.js';
import { featureColumns, startPipeline, writeDataset, type TestPipeline } from '../../helpers/pipeline.js';
import { startS3Server, type TestS3Server } from '../../helpers/s3-server.js';
import { readVerifiedOutput } from '../../helpers/verified-output.js';
import { type WebhookReceiver, startWebhookReceiver } from '../../helpers/webhook-receiver.js';
import { apiKeys, auth, fakeDeliveries } from '../api/api-harness.js';

const CHUNK_ROWS = 2_048;
const CHUNKS = 6;
const ROWS = CHUNK_ROWS * CHUNKS;
const PART = /\/part-(\d{5})-[0-9a-z]+\.parquet$/;
const secret = `whsec_${randomBytes(24).toString('base64')}`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The workers' storage with two faults a test can switch on, both on the writes of output parts (the
 * objects each chunk's scoring produces, `part-<i>-<attempt>.parquet`):
 * - `denyPart`: the write of chunk i's part is refused once with `STORAGE_ACCESS_DENIED` — what a bucket
 *   policy or credentials briefly denying writes under the output prefix look like. Quiver treats it as
 *   permanent, so the job fails at that chunk; once the cause is fixed, a retry can finish it.
 * - `delayMs`: every part write waits this long first (a slow output store), giving up when the attempt's
 *   signal aborts (counted in `aborted`): a job with a short `timeoutSeconds` trips mid-run.
 * `parts` lists the chunk index of every part written: one per scored chunk (chunks here are one segment).
 */
interface FaultyStorage extends Storage {
  denyPart: number | undefined;
  delayMs: number;
  aborted: number;
  parts: number[];
}

function faultyStorage(inner: Storage): FaultyStorage {
  const faulty: FaultyStorage = {
    denyPart: undefined,
    delayMs: 0,
    aborted: 0,
    parts: [],
    list: (prefix, options) => inner.list(prefix, options),
    stat: (uri, options) => inner.stat(uri, options),
    read: (uri, range, options) => inner.read(uri, range, options),
    delete: (uri, options) => inner.delete(uri, options),
    async write(uri, body, options) {
      const part = PART.exec(uri);
      if (part) {
        const index = Number(part[1]);
        if (faulty.denyPart === index) {
          faulty.denyPart = undefined;
          throw new StorageAccessDenied(uri);
        }
        if (faulty.delayMs > 0) {
          const signal = options?.signal;
          await new Promise<void>((resolve, reject) => {
            const timer = setTimeout(resolve, faulty.delayMs);
            signal?.addEventListener(
              'abort',
              () => {
                clearTimeout(timer);
                faulty.aborted += 1;
                reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
              },
              { once: true },
            );
          });
        }
        faulty.parts.push(index);
      }
      return inner.write(uri, body, options);
    },
  };
  return faulty;
}

describe('retry, timeoutSeconds and expiresAfterSeconds (real Redis, S3-protocol server, ONNX Runtime)', () => {
  let s3: TestS3Server;
  let faulty: FaultyStorage;
  let pipeline: TestPipeline;
  let sweeper: DeadlineSweeper;
  let receiver: WebhookReceiver;
  let app: FastifyInstance;
  let baseline: Array<[bigint, number]>;
  let modelBytes: Buffer;
  const readers = makeFormatReaders();
  const deliveryConfig = compileDeliveryOptions({ allow: '127.0.0.1/32', retrySchedule: '50ms' });

  const spec = (output: string, extra: Partial<JobSpecInput> = {}): JobSpecInput => ({
    name: 'retry-deadlines',
    input: { uri: 's3://events/dt=2026-11-28/', format: 'parquet' },
    model: {
      uri: 's3://models/fraud.onnx',
      inputs: { features: { columns: featureColumns } },
      outputs: { score: { column: 'score' } },
    },
    output: { uri: `s3://scores/${output}/`, format: 'parquet', passthrough: ['id'] },
    batch: { rows: 1_024, chunkRows: CHUNK_ROWS },
    ...extra,
  });

  /** Waits until the job is in a state `done` accepts. */
  async function until(id: string, done: (r: JobRecord) => boolean, timeoutMs = 60_000): Promise<JobRecord> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const record = await pipeline.store.get(id);
      if (record && done(record)) return record;
      if (Date.now() > deadline) throw new Error(`job ${id} still ${record?.status}`);
      await sleep(50);
    }
  }
  const ended = (r: JobRecord) => ['succeeded', 'failed', 'cancelled', 'expired'].includes(r.status);

  const submitter = () => ({ store: pipeline.store, queue: pipeline.queues });
  const retryDeps = () => ({
    store: pipeline.store,
    storage: s3.storage,
    clearQueued: async (id: string, total: number) => void (await pipeline.queues.clearForRetry(id, total)),
    enqueuePlan: (id: string, priority: number, attempt: number) =>
      pipeline.queues.enqueuePlan(id, priority, attempt),
  });

  beforeAll(async () => {
    s3 = await startS3Server();
    for (const bucket of ['events', 'models', 'scores']) await s3.createBucket(bucket);
    modelBytes = await readFile(await modelPath('tabular-mlp'));
    await s3.storage.write('s3://models/fraud.onnx', modelBytes);
    // Six chunks of one 2,048-row group each, ids 0..12,287 over two files.
    await writeDataset(
      s3.storage,
      's3://events/dt=2026-11-28/',
      [
        ['a.parquet', 0, ROWS / 2],
        ['b.parquet', ROWS / 2, ROWS / 2],
      ],
      { rowGroupRows: CHUNK_ROWS },
    );
    faulty = faultyStorage(s3.storage);
    receiver = await startWebhookReceiver({ secrets: [secret] });
    // One chunk at a time, in index order: the injected failure falls at a known chunk.
    pipeline = await startPipeline({
      storage: s3.storage,
      workStorage: faulty,
      scoreConcurrency: 1,
      deliveries: deliveryConfig,
    });
    const deliveries = pipeline.deliveries!;
    sweeper = startDeadlineSweeper(
      {
        store: pipeline.store,
        queue: pipeline.queues,
        onTerminal: (record) => deliveries.announce(record),
        now: () => new Date(),
        log: pipeline.log,
      },
      100,
    );
    app = await makeApi({
      store: pipeline.store,
      queues: pipeline.queues,
      storage: s3.storage,
      deliveries: fakeDeliveries(),
      redis: pipeline.redis,
      prefix: pipeline.prefix,
      keys: apiKeys,
    });
    await app.ready();

    // What an undisturbed run of the same input and model writes: every retried run must equal it.
    const { record } = await submitJob(submitter(), spec('baseline'));
    const done = await pipeline.settle(record.id);
    expect(done.status).toBe('succeeded');
    baseline = (await readVerifiedOutput(s3.storage, readers, done.output.manifestUri!)).rows;
    expect(baseline).toHaveLength(ROWS);
    expect(baseline.map(([id]) => Number(id))).toEqual(Array.from({ length: ROWS }, (_, i) => i));
  }, 120_000);

  afterAll(async () => {
    await sweeper?.close();
    await app?.close();
    await pipeline?.close();
    await receiver?.close();
    await readers.close();
    await s3?.close();
  });

  /** The job's output read back through its manifest: every part checked, rows as the baseline's. */
  async function expectExactOutput(record: JobRecord): Promise<void> {
    expect(record.status).toBe('succeeded');
    const output = await readVerifiedOutput(s3.storage, readers, record.output.manifestUri!);
    expect(output.parts.every((p) => p.ok)).toBe(true);
    expect(output.manifest.rowsScored).toBe(ROWS);
    expect(output.rows).toEqual(baseline);
  }

  it('retries a job that failed at chunk 3: keeps chunks 0–2, scores only the rest, one webhook per attempt', async () => {
    faulty.denyPart = 3;
    const { record } = await submitJob(
      submitter(),
      spec('retried', { webhook: { url: receiver.url, secret } }),
    );
    const failed = await pipeline.settle(record.id);
    expect(failed.status).toBe('failed');
    expect(failed.error).toMatchObject({ code: 'STORAGE_ACCESS_DENIED', chunk: 3 });
    const committedBefore = await pipeline.store.committedChunks(record.id);
    expect(committedBefore).toEqual(expect.arrayContaining([0, 1, 2]));
    expect(committedBefore).not.toContain(3);

    faulty.parts = [];
    const retried = await retryJob(retryDeps(), record.id);
    expect(retried).toMatchObject({ id: record.id, status: 'queued', attempts: 2 });
    expect(retried.error).toBeUndefined();
    expect(retried.finishedAt).toBeUndefined();
    const done = await pipeline.settle(record.id);
    await expectExactOutput(done);
    expect(done.output.uri).toBe(failed.output.uri);
    expect(done.previousAttempts).toEqual([
      {
        attempt: 1,
        status: 'failed',
        startedAt: failed.startedAt,
        finishedAt: failed.finishedAt,
        error: failed.error,
      },
    ]);
    // Scoring calls of the retry: exactly the chunks not committed before, each once.
    const rescored = Array.from({ length: CHUNKS }, (_, i) => i).filter((i) => !committedBefore.includes(i));
    expect([...faulty.parts].sort((a, b) => a - b)).toEqual(rescored);

    // Each attempt's end sent its own webhook: job.failed (attempt 1), then job.succeeded (attempt 2).
    const hooks = await receiver.waitFor(2, 20_000);
    const events = hooks.map((h) => webhookEventSchema.parse(h.event));
    expect(events.map((e) => [e.type, e.data.attempts ?? 1])).toEqual([
      ['job.failed', 1],
      ['job.succeeded', 2],
    ]);
    expect(new Set(hooks.map((h) => h.headers['webhook-id'])).size).toBe(2);
  }, 120_000);

  it('over the API: 404 for another tenant, 409 naming the state, the changed model or input, 429 at the limit', async () => {
    faulty.denyPart = 1;
    const submitted = await app.inject({
      method: 'POST',
      url: '/v1/jobs',
      headers: auth('acme'),
      payload: spec('api-retry'),
    });
    expect(submitted.statusCode).toBe(201);
    const id = jobViewSchema.parse(submitted.json()).id;
    const failed = await until(id, ended);
    expect(failed.status).toBe('failed');
    const retry = (tenant: 'acme' | 'globex' = 'acme', to: FastifyInstance = app) =>
      to.inject({ method: 'POST', url: `/v1/jobs/${id}/retry`, headers: auth(tenant) });

    expect((await retry('globex')).statusCode).toBe(404);

    // The model now serves other bytes: refused, nothing moved.
    await s3.storage.write('s3://models/fraud.onnx', new Uint8Array([...modelBytes, 0]));
    let reply = await retry();
    expect(reply.statusCode).toBe(409);
    expect(reply.json()).toMatchObject({ error: { code: 'RETRY_MODEL_CHANGED' } });
    expect(reply.json<ApiError>().error.message).toContain('s3://models/fraud.onnx');
    await s3.storage.write('s3://models/fraud.onnx', modelBytes);

    // An input object chunk 0 was scored from changed: refused, naming it.
    const original = await s3.storage.read('s3://events/dt=2026-11-28/a.parquet');
    await s3.storage.write('s3://events/dt=2026-11-28/a.parquet', new Uint8Array([...original, 1, 2, 3]));
    reply = await retry();
    expect(reply.statusCode).toBe(409);
    expect(reply.json()).toMatchObject({ error: { code: 'RETRY_INPUT_CHANGED' } });
    expect(reply.json<ApiError>().error.message).toContain('s3://events/dt=2026-11-28/a.parquet');
    await s3.storage.write('s3://events/dt=2026-11-28/a.parquet', original);
    expect((await pipeline.store.get(id))?.status).toBe('failed');

    // At the tenant's active-job limit: 429, the job stays failed.
    const limited = await makeApi(
      {
        store: pipeline.store,
        queues: pipeline.queues,
        storage: s3.storage,
        deliveries: fakeDeliveries(),
        redis: pipeline.redis,
        prefix: pipeline.prefix,
        keys: apiKeys,
      },
      { maxActiveJobs: 0 },
    );
    try {
      reply = await retry('acme', limited);
      expect(reply.statusCode).toBe(429);
      expect(reply.json()).toMatchObject({ error: { code: 'TOO_MANY_ACTIVE_JOBS' } });
    } finally {
      await limited.close();
    }
    expect((await pipeline.store.get(id))?.status).toBe('failed');

    // Input and model as they were: the retry goes through and finishes the job.
    reply = await retry();
    expect(reply.statusCode).toBe(200);
    expect(jobViewSchema.parse(reply.json())).toMatchObject({ status: 'queued', attempts: 2 });
    const done = await until(id, ended);
    await expectExactOutput(done);

    // A succeeded job is not retried: 409 naming its state.
    reply = await retry();
    expect(reply.statusCode).toBe(409);
    expect(reply.json()).toMatchObject({ error: { code: 'JOB_NOT_RETRYABLE' } });
    expect(reply.json<ApiError>().error.message).toContain('succeeded');
  }, 120_000);

  it('timeoutSeconds stops a job mid-run with JOB_TIMEOUT; a retry, with a fresh deadline, finishes it', async () => {
    // About 1 s per chunk: chunks 0 and 1 commit, chunk 2 is mid-write when the 3 s deadline falls.
    faulty.delayMs = 1_000;
    faulty.aborted = 0;
    const { record } = await submitJob(submitter(), spec('timeout', { timeoutSeconds: 3 }));
    const failed = await until(record.id, ended);
    expect(failed.status).toBe('failed');
    expect(failed.error?.code).toBe('JOB_TIMEOUT');
    const took = Date.parse(failed.finishedAt!) - Date.parse(failed.startedAt!);
    expect(took).toBeGreaterThanOrEqual(3_000);
    expect(took).toBeLessThan(5_000);
    const committed = await pipeline.store.committedChunks(record.id);
    expect(committed.length).toBeGreaterThanOrEqual(1);
    expect(committed.length).toBeLessThan(CHUNKS);
    // The running chunk was stopped (its write gave up on the attempt's abort), and nothing commits later.
    await until(record.id, () => faulty.aborted >= 1, 5_000);
    await sleep(1_500);
    expect(await pipeline.store.committedChunks(record.id)).toEqual(committed);

    // The same 3 s budget, counted from the retry's own start: enough once writes are quick again.
    faulty.delayMs = 0;
    faulty.parts = [];
    await retryJob(retryDeps(), record.id);
    const done = await until(record.id, ended);
    await expectExactOutput(done);
    expect(Date.parse(done.startedAt!)).toBeGreaterThan(Date.parse(failed.finishedAt!));
    expect(done.previousAttempts?.[0]?.error?.code).toBe('JOB_TIMEOUT');
    expect([...faulty.parts].sort((a, b) => a - b)).toEqual(
      Array.from({ length: CHUNKS }, (_, i) => i).filter((i) => !committed.includes(i)),
    );
  }, 120_000);

  it('expiresAfterSeconds: a job no worker took in time becomes expired, sends job.expired, never plans', async () => {
    // A deployment of its own with no worker at all: only the deadline sweep (as the API runs it).
    const prefix = `{test-${randomUUID().slice(0, 8)}}`;
    const store = makeRedisJobStore(pipeline.redis, prefix);
    const queues = makeQueues(pipeline.redis, prefix);
    const deliveries = makeRedisDeliveries({ redis: pipeline.redis, prefix, queues });
    const lonely = startDeadlineSweeper(
      {
        store,
        queue: queues,
        onTerminal: (r) => deliveries.announce(r),
        now: () => new Date(),
        log: makeRecordingLog(),
      },
      100,
    );
    let late: TestPipeline | undefined;
    try {
      const before = receiver.received.length;
      const { record } = await submitJob(
        { store, queue: queues },
        spec('expired', { expiresAfterSeconds: 1, webhook: { url: receiver.url, secret } }),
      );
      const deadline = Date.now() + 10_000;
      let expired = await store.get(record.id);
      while (expired?.status !== 'expired' && Date.now() < deadline) {
        await sleep(50);
        expired = await store.get(record.id);
      }
      expect(expired).toMatchObject({ status: 'expired', error: { code: 'JOB_EXPIRED' } });
      expect(Date.parse(expired!.finishedAt!) - Date.parse(record.createdAt)).toBeGreaterThanOrEqual(1_000);
      expect(expired!.startedAt).toBeUndefined();
      expect(await store.countActive('default')).toBe(0);
      expect((await store.counts({ stalledSince: new Date() })).finished.expired).toBe(1);

      // A worker that comes up now delivers the webhook and does not plan the job.
      late = await startPipeline({ storage: faulty, prefix, deliveries: deliveryConfig });
      const hooks = await receiver.waitFor(before + 1, 20_000);
      const event = webhookEventSchema.parse(hooks[before]!.event);
      expect(event).toMatchObject({
        type: 'job.expired',
        data: { id: record.id, status: 'expired', error: { code: 'JOB_EXPIRED' } },
      });
      await sleep(1_000);
      const after = await store.get(record.id);
      expect(after).toMatchObject({ status: 'expired', progress: { chunksTotal: 0, chunksDone: 0 } });
      expect(after!.startedAt).toBeUndefined();
      const written: string[] = [];
      for await (const object of s3.storage.list(after!.output.uri)) written.push(object.uri);
      expect(written).toEqual([]);
    } finally {
      await lonely.close();
      await late?.close();
      await queues.close();
      const keys = await pipeline.redis.keys(`${prefix}*`);
      if (keys.length > 0) await pipeline.redis.del(...keys);
    }
  }, 60_000);
});
