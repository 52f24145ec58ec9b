import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import * as ort from 'onnxruntime-node';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobRecord } from '../../../schemas/job-record.js';
import type { JobSpecInput } from '../../../schemas/job-spec.js';
import { submitJob } from '../../../jobs/submit-job.js';
import { makeFormatReaders } from '../../../services/formats/make-reader.js';
import { makeRedisJobStore, type JobStore } from '../../../services/queue/job-store.js';
import { makeQueues, type PipelineQueues } from '../../../services/queue/queues.js';
import { makeRedis } from '../../../services/queue/redis-connection.js';
import { fileTuningCache } from '../../../services/scoring/auto-batch.js';
import { makeScorerPool } from '../../../services/scoring/scorer-pool.js';
import { makePipelineWorker, type PipelineWorker } from '../../../services/worker/pipeline-worker.js';
import { modelPath } from '../../../scripts/lib/models.js';
import { startS3Server, type TestS3Server } from '../../helpers/s3-server.js';

const FEATURES = 64;
const featureColumns = Array.from({ length: FEATURES }, (_, i) => `f${i}`);

describe('job pipeline end to end (real Redis, S3-protocol server, ONNX Runtime)', () => {
  const prefix = `{test-${randomUUID().slice(0, 8)}}`;
  let s3: TestS3Server;
  let redis: Redis;
  let store: JobStore;
  let queues: PipelineQueues;
  let worker: PipelineWorker;
  let dir: string;
  let modelBytes: Buffer;
  const readers = makeFormatReaders();
  const logs: string[] = [];
  let scorers: ReturnType<typeof makeScorerPool>;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'quiver-pipeline-'));
    s3 = await startS3Server();
    for (const bucket of ['events', 'models', 'scores']) await s3.createBucket(bucket);
    modelBytes = await readFile(await modelPath('tabular-mlp'));
    await s3.storage.write('s3://models/fraud/v3.onnx', modelBytes);
    // Three Parquet files, several row groups each; ids 0..N-1 across them; f3 null at id 777 in the last.
    const duck = await DuckDBInstance.create(':memory:');
    const connection = await duck.connect();
    const files: Array<[string, number, number]> = [
      ['part-a.parquet', 0, 5_000],
      ['part-b.parquet', 5_000, 3_000],
      ['part-c.parquet', 8_000, 500],
    ];
    for (const [name, from, count] of files) {
      const path = join(dir, name);
      const cols = featureColumns
        .map((c, j) =>
          c === 'f3'
            ? `CASE WHEN ${from} + range = 8300 THEN NULL ELSE ((range * 7 + ${j}) % 101) / 101.0 END::FLOAT AS ${c}`
            : `((range * 7 + ${j}) % 101 / 101.0)::FLOAT AS ${c}`,
        )
        .join(', ');
      await connection.run(
        `COPY (SELECT (${from} + range)::BIGINT AS id, ${cols} FROM range(${count})) TO '${path}' (FORMAT parquet, ROW_GROUP_SIZE 2048)`,
      );
      await s3.storage.write(`s3://events/dt=2026-11-27/${name}`, await readFile(path));
    }
    connection.closeSync();
    duck.closeSync();

    redis = makeRedis('redis://127.0.0.1:6379');
    store = makeRedisJobStore(redis, prefix);
    queues = makeQueues(redis, prefix);
    scorers = makeScorerPool({ storage: s3.storage, cacheDir: join(dir, 'models'), intraOpThreads: 1 });
    worker = makePipelineWorker({
      connection: redis,
      prefix,
      queues,
      deps: {
        store,
        storage: s3.storage,
        readers,
        scorers,
        tuningCache: fileTuningCache(join(dir, 'tuning.json')),
        log: (m, c) => logs.push(`${m} ${JSON.stringify(c ?? {})}`),
      },
    });
  }, 120_000);

  afterAll(async () => {
    await worker?.close();
    await queues?.close();
    await scorers?.close();
    await readers.close();
    if (redis) {
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length > 0) await redis.del(...keys);
      redis.disconnect();
    }
    await s3?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const spec = (overrides: Partial<JobSpecInput> = {}): JobSpecInput => ({
    name: 'nightly-fraud',
    input: { uri: 's3://events/dt=2026-11-27/', format: 'parquet' },
    model: {
      uri: 's3://models/fraud/v3.onnx',
      inputs: { features: { columns: featureColumns, nulls: 'fail' } },
      outputs: { score: { column: 'fraud_score' } },
    },
    output: { uri: 's3://scores/fraud/', format: 'parquet', passthrough: ['id'] },
    batch: { rows: 1_024, chunkRows: 4_096 },
    ...overrides,
  });

  async function settle(id: string, timeoutMs = 60_000): Promise<JobRecord> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const record = (await store.get(id))!;
      if (['succeeded', 'failed', 'cancelled'].includes(record.status)) return record;
      if (Date.now() > deadline)
        throw new Error(`job ${id} still ${record.status}: ${logs.slice(-5).join(' | ')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  const enqueuePlan = (jobId: string, priority: number) =>
    queues.plan.add('plan', { jobId }, { jobId: `${jobId}-plan`, priority }).then(() => undefined);

  it('fails a job whose feature is null under nulls: fail, naming the code, the object and the row', async () => {
    const { record } = await submitJob({ store, enqueuePlan }, spec());
    const done = await settle(record.id);
    expect(done.status).toBe('failed');
    expect(done.error).toMatchObject({
      code: 'FEATURE_NULL',
      uri: 's3://events/dt=2026-11-27/part-c.parquet',
      row: 300,
    });
    const listed = [];
    for await (const o of s3.storage.list(`s3://scores/fraud/${record.id}/`)) listed.push(o.uri);
    expect(listed.some((u) => u.endsWith('_SUCCESS'))).toBe(false);
  });

  it('scores every row exactly once under onInvalidRow: skip, writes the refused row with its reason, and a manifest', async () => {
    const { record, created } = await submitJob(
      { store, enqueuePlan },
      spec({ errors: { onInvalidRow: 'skip', maxInvalidFraction: 0.01 } }),
      { idempotencyKey: 'nightly-2026-11-27' },
    );
    expect(created).toBe(true);
    const done = await settle(record.id);
    expect(done.status, JSON.stringify(done.error)).toBe('succeeded');
    expect(done.progress).toMatchObject({
      chunksDone: done.progress.chunksTotal,
      rowsScored: 8_499,
      rowsRejected: 1,
    });
    // 4,096-row chunks over row groups of 2,048: [a0 a1] [a2 b0 b1] [c0].
    expect(done.progress.chunksTotal).toBe(3);

    const root = `s3://scores/fraud/${record.id}`;
    const manifest = JSON.parse(
      new TextDecoder().decode(await s3.storage.read(`${root}/_manifest.json`)),
    ) as {
      inputRows: number;
      rowsScored: number;
      rowsRejected: number;
      modelSha256: string;
      parts: Array<{ uri: string; rows: number }>;
      rejected: Array<{ uri: string }>;
    };
    expect(manifest).toMatchObject({ inputRows: 8_500, rowsScored: 8_499, rowsRejected: 1 });
    await s3.storage.stat(`${root}/_SUCCESS`);

    // Every input id but the refused one, once, in order; scores equal ONNX Runtime's on the same features.
    const ids: bigint[] = [];
    const scores: number[] = [];
    for (const part of manifest.parts) {
      const info = await s3.storage.stat(part.uri);
      for await (const batch of readers
        .readerFor('parquet')
        .readPart(s3.storage, { uri: part.uri, size: info.size, range: { kind: 'whole' } })) {
        expect(batch.schema.fields.map((f) => f.name)).toEqual(['id', 'fraud_score']);
        for (let r = 0; r < batch.numRows; r++) {
          ids.push(batch.getChild('id')!.get(r) as bigint);
          scores.push(batch.getChild('fraud_score')!.get(r) as number);
        }
      }
    }
    expect(ids).toEqual(Array.from({ length: 8_500 }, (_, i) => BigInt(i)).filter((id) => id !== 8_300n));
    const session = await ort.InferenceSession.create(modelBytes, { intraOpNumThreads: 1 });
    try {
      const rows = 64;
      const features = new Float32Array(rows * FEATURES);
      for (let r = 0; r < rows; r++)
        for (let j = 0; j < FEATURES; j++)
          features[r * FEATURES + j] = Math.fround(((r * 7 + j) % 101) / 101);
      const expected = (
        await session.run({ features: new ort.Tensor('float32', features, [rows, FEATURES]) })
      ).score!.data as Float32Array;
      for (let r = 0; r < rows; r++) expect(Math.abs(scores[r]! - expected[r]!)).toBeLessThanOrEqual(1e-6);
    } finally {
      await session.release();
    }

    const refused = new TextDecoder().decode(await s3.storage.read(manifest.rejected[0]!.uri));
    expect(JSON.parse(refused.trim())).toMatchObject({
      id: 8_300,
      _reason: expect.stringContaining('f3') as unknown,
    });

    // The same key and spec is the same job; the same key with another spec is refused.
    const again = await submitJob(
      { store, enqueuePlan },
      spec({ errors: { onInvalidRow: 'skip', maxInvalidFraction: 0.01 } }),
      {
        idempotencyKey: 'nightly-2026-11-27',
      },
    );
    expect([again.created, again.record.id]).toEqual([false, record.id]);
    await expect(
      submitJob({ store, enqueuePlan }, spec(), { idempotencyKey: 'nightly-2026-11-27' }),
    ).rejects.toMatchObject({ code: 'IDEMPOTENCY_CONFLICT' });
  });

  it('after Redis forgets the job, resubmitting with the same key finishes it without scoring committed chunks again', async () => {
    const key = 'nightly-resubmit';
    const body = spec({ errors: { onInvalidRow: 'skip', maxInvalidFraction: 0.01 } });
    const first = await submitJob({ store, enqueuePlan }, body, { idempotencyKey: key });
    expect((await settle(first.record.id)).status).toBe('succeeded');
    const committedBefore = logs.filter(
      (l) => l.startsWith('chunk committed') && l.includes(first.record.id),
    ).length;
    // Lose every Redis key of this deployment (the prefix is this test's own) and the _SUCCESS marker.
    const keys = await redis.keys(`${prefix}*`);
    await redis.del(...keys);
    await s3.storage.delete(`s3://scores/fraud/${first.record.id}/_SUCCESS`);
    const second = await submitJob({ store, enqueuePlan }, body, { idempotencyKey: key });
    expect(second.created).toBe(true);
    expect(second.record.id).toBe(first.record.id);
    const done = await settle(second.record.id);
    expect(done.status).toBe('succeeded');
    expect(done.progress.rowsScored).toBe(8_499);
    const committedAfter = logs.filter(
      (l) => l.startsWith('chunk committed') && l.includes(first.record.id),
    ).length;
    expect(committedAfter).toBe(committedBefore);
    await s3.storage.stat(`s3://scores/fraud/${first.record.id}/_SUCCESS`);
  });
});
