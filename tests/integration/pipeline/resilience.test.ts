import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cancelJob } from '../../../jobs/cancel-job.js';
import { submitJob } from '../../../jobs/submit-job.js';
import type { JobSpecInput } from '../../../schemas/job-spec.js';
import { makeFormatReaders } from '../../../services/formats/make-reader.js';
import type { Storage } from '../../../jobs/ports/storage.js';
import { freePort, spawnRedisServer, waitForRedis } from '../../../scripts/lib/demo-redis.js';
import { modelPath } from '../../../scripts/lib/models.js';
import { startFaultProxy, type FaultProxy } from '../../helpers/fault-proxy.js';
import { featureColumns, startPipeline, writeDataset, type TestPipeline } from '../../helpers/pipeline.js';
import { startS3Server, type TestS3Server } from '../../helpers/s3-server.js';
import { lastRecords } from '../../helpers/recording-log.js';

const ROWS = 20_000;

/** Every (id, score) of a finished job, in manifest order. */
async function jobOutput(storage: Storage, manifestUri: string): Promise<Array<[bigint, number]>> {
  const readers = makeFormatReaders();
  try {
    const manifest = JSON.parse(new TextDecoder().decode(await storage.read(manifestUri))) as {
      parts: Array<{ uri: string; bytes: number }>;
    };
    const rows: Array<[bigint, number]> = [];
    for (const part of manifest.parts) {
      for await (const batch of readers
        .readerFor('parquet')
        .readPart(storage, { uri: part.uri, size: part.bytes, range: { kind: 'whole' } })) {
        for (let r = 0; r < batch.numRows; r++)
          rows.push([batch.getChild('id')!.get(r) as bigint, batch.getChild('score')!.get(r) as number]);
      }
    }
    return rows;
  } finally {
    await readers.close();
  }
}

/** Cancels a job as the API will: through the store and the pipeline's queues. */
const cancel = (pipeline: TestPipeline, id: string) =>
  cancelJob(
    {
      store: pipeline.store,
      removeQueuedChunks: (jobId, total) => pipeline.queues.removeQueuedChunks(jobId, total),
      enqueueFinalize: (jobId) => pipeline.queues.enqueueFinalize(jobId),
    },
    id,
  );

describe('pipeline resilience', () => {
  let s3: TestS3Server;
  let clean: Array<[bigint, number]>;
  const pipelines: TestPipeline[] = [];
  const spec = (output: string, overrides: Partial<JobSpecInput> = {}): JobSpecInput => ({
    input: { uri: 's3://events/day/', format: 'parquet' },
    model: {
      uri: 's3://models/mlp.onnx',
      inputs: { features: { columns: featureColumns, nulls: 'fail' } },
      outputs: { score: { column: 'score' } },
    },
    output: { uri: `s3://scores/${output}/`, passthrough: ['id'] },
    batch: { rows: 1_024, chunkRows: 2_048 },
    ...overrides,
  });
  const run = async (pipeline: TestPipeline, body: JobSpecInput) => {
    const { record } = await submitJob({ store: pipeline.store, queue: pipeline.queues }, body);
    return record.id;
  };

  beforeAll(async () => {
    s3 = await startS3Server();
    for (const bucket of ['events', 'models', 'scores']) await s3.createBucket(bucket);
    await s3.storage.write('s3://models/mlp.onnx', await readFile(await modelPath('tabular-mlp')));
    await writeDataset(s3.storage, 's3://events/day/', [
      ['a.parquet', 0, 12_000],
      ['b.parquet', 12_000, ROWS - 12_000],
    ]);
    const pipeline = await startPipeline({ storage: s3.storage });
    pipelines.push(pipeline);
    const id = await run(pipeline, spec('clean'));
    const done = await pipeline.settle(id);
    expect(done.status).toBe('succeeded');
    clean = await jobOutput(s3.storage, done.output.manifestUri!);
    expect(clean).toHaveLength(ROWS);
  }, 120_000);

  afterAll(async () => {
    await Promise.all(pipelines.map((p) => p.close()));
    await s3?.close();
  });

  it('succeeds with identical output when 10% of storage requests fail (503s, resets, cut bodies)', async () => {
    let proxy: FaultProxy | undefined;
    try {
      proxy = await startFaultProxy({
        target: s3.endpoint,
        rates: { status503: 0.04, reset: 0.03, truncate: 0.03 },
        seed: 42,
      });
      const flaky = s3.makeStorage({
        endpoint: proxy.endpoint,
        retry: { maxAttempts: 10, baseDelayMs: 5, maxDelayMs: 50 },
      });
      const pipeline = await startPipeline({ storage: s3.storage, workStorage: flaky });
      pipelines.push(pipeline);
      const done = await pipeline.settle(await run(pipeline, spec('faults')));
      expect(done.status, JSON.stringify(done.error)).toBe('succeeded');
      expect(
        proxy.faultCount('status') + proxy.faultCount('reset') + proxy.faultCount('truncate'),
      ).toBeGreaterThan(3);
      expect(await jobOutput(s3.storage, done.output.manifestUri!)).toEqual(clean);
    } finally {
      await proxy?.close();
    }
  });

  it('survives a Redis restart mid-job (AOF on): workers reconnect and the job succeeds', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'quiver-redis-'));
    const port = await freePort();
    const start = (): ChildProcess => spawnRedisServer(port, dir, { appendonly: true });
    const waitUp = () => waitForRedis(`redis://127.0.0.1:${port}`);
    let server = start();
    let pipeline: TestPipeline | undefined;
    try {
      await waitUp();
      pipeline = await startPipeline({ storage: s3.storage, redisUrl: `redis://127.0.0.1:${port}` });
      const id = await run(pipeline, spec('restart'));
      // Restart once the first chunk is committed, with chunks still queued.
      for (let i = 0; i < 300 && pipeline.log.withMessage('chunk committed').length === 0; i++)
        await new Promise((r) => setTimeout(r, 20));
      expect((await pipeline.store.get(id))!.status).toBe('running');
      server.kill('SIGKILL');
      await new Promise((r) => server.once('exit', r));
      await new Promise((r) => setTimeout(r, 500));
      server = start();
      await waitUp();
      const done = await pipeline.settle(id, 90_000);
      expect(done.status, JSON.stringify(done.error)).toBe('succeeded');
      expect(await jobOutput(s3.storage, done.output.manifestUri!)).toEqual(clean);
    } finally {
      // Close while this Redis is still up: BullMQ waits for its connection when closing.
      await pipeline?.close();
      server.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it('aborts and retries a chunk that stops making progress (a read that hangs), and the job succeeds', async () => {
    let hung = 0;
    // The storage the workers use: the first ranged read of b.parquet's data never answers.
    const hanging: Storage = {
      ...s3.storage,
      list: (uri, o) => s3.storage.list(uri, o),
      stat: (uri, o) => s3.storage.stat(uri, o),
      write: (uri, body, o) => s3.storage.write(uri, body, o),
      delete: (uri, o) => s3.storage.delete(uri, o),
      read: (uri, range, o) => {
        if (uri.endsWith('/b.parquet') && range && range.start < 1_000 && hung === 0) {
          hung++;
          return new Promise<Uint8Array>(() => undefined);
        }
        return s3.storage.read(uri, range, o);
      },
    };
    const pipeline = await startPipeline({ storage: s3.storage, workStorage: hanging, chunkStallMs: 1_500 });
    pipelines.push(pipeline);
    const done = await pipeline.settle(await run(pipeline, spec('stall')));
    expect(done.status, JSON.stringify(done.error)).toBe('succeeded');
    expect(hung).toBe(1);
    expect(await jobOutput(s3.storage, done.output.manifestUri!)).toEqual(clean);
  });

  it('cancelling stops a chunk that is being scored, within about a second, and commits nothing for it', async () => {
    await s3.storage.write('s3://models/heavy.onnx', await readFile(await modelPath('compute-heavy')));
    const pipeline = await startPipeline({ storage: s3.storage });
    pipelines.push(pipeline);
    // One chunk of 20,000 rows through the compute-heavy model: many seconds of scoring on one thread.
    const id = await run(
      pipeline,
      spec('cancel-running', {
        model: { uri: 's3://models/heavy.onnx' },
        batch: { rows: 256, chunkRows: 1_000_000 },
      }),
    );
    // Scoring starts right after the mapping is resolved (logged); give it a moment, then cancel.
    for (let i = 0; i < 500 && !pipeline.log.records.some((r) => r.msg.includes('default mapping')); i++)
      await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 300));
    const cancelledAt = performance.now();
    await cancel(pipeline, id);
    const done = await pipeline.settle(id);
    expect(done.status).toBe('cancelled');
    for (let i = 0; i < 200 && pipeline.log.withMessage('attempt stopped').length === 0; i++)
      await new Promise((r) => setTimeout(r, 20));
    expect(pipeline.log.withMessage('attempt stopped'), lastRecords(pipeline.log)).toContainEqual(
      expect.objectContaining({ jobId: id, chunk: 0 }),
    );
    expect(performance.now() - cancelledAt).toBeLessThan(5_000);
    expect(await pipeline.store.isCommitted(id, 0)).toBe(false);
  });

  it('cancels a running job: queued chunks are dropped, no _SUCCESS, and every part present is whole', async () => {
    const pipeline = await startPipeline({ storage: s3.storage });
    pipelines.push(pipeline);
    const id = await run(pipeline, spec('cancel', { batch: { rows: 256, chunkRows: 1_024 } }));
    for (let i = 0; i < 300 && pipeline.log.withMessage('chunk committed').length === 0; i++)
      await new Promise((r) => setTimeout(r, 20));
    await cancel(pipeline, id);
    const done = await pipeline.settle(id);
    expect(done.status).toBe('cancelled');
    expect(done.progress.chunksDone).toBeLessThan(done.progress.chunksTotal);
    const parts: string[] = [];
    for await (const o of s3.storage.list(`s3://scores/cancel/${id}/`)) parts.push(o.uri);
    expect(parts.some((u) => u.endsWith('_SUCCESS') || u.endsWith('_manifest.json'))).toBe(false);
    const readers = makeFormatReaders();
    try {
      for (const uri of parts.filter((u) => u.endsWith('.parquet'))) {
        const info = await s3.storage.stat(uri);
        let rows = 0;
        for await (const batch of readers
          .readerFor('parquet')
          .readPart(s3.storage, { uri, size: info.size, range: { kind: 'whole' } }))
          rows += batch.numRows;
        expect(rows).toBeGreaterThan(0);
      }
    } finally {
      await readers.close();
    }
  });
});
