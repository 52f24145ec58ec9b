import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { submitJob } from '../../../jobs/submit-job.js';
import type { JobRecord } from '../../../schemas/job-record.js';
import { makeFormatReaders } from '../../../services/formats/make-reader.js';
import { makeRedisJobStore } from '../../../services/queue/job-store.js';
import { makeQueues } from '../../../services/queue/queues.js';
import { makeRedis } from '../../../services/queue/redis-connection.js';
import { makeScorerPool } from '../../../services/scoring/scorer-pool.js';
import { makePipelineWorker } from '../../../services/worker/pipeline-worker.js';
import { makeMemoryStorage } from '../../helpers/memory-storage.js';
import { featureColumns, writeDataset } from '../../helpers/pipeline.js';
import { makeRecordingLog } from '../../helpers/recording-log.js';
import { outputWriters } from '../../../services/formats/writers/make-writer.js';

describe('chunks per job, through the pipeline (real Redis)', () => {
  const prefix = `{test-${randomUUID().slice(0, 8)}}`;
  const redis = makeRedis('redis://127.0.0.1:6379');
  const store = makeRedisJobStore(redis, prefix);
  const queues = makeQueues(redis, prefix);
  const storage = makeMemoryStorage();
  const readers = makeFormatReaders();
  let dir: string;
  let worker: ReturnType<typeof makePipelineWorker>;
  let scorers: ReturnType<typeof makeScorerPool>;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'quiver-chunk-limit-'));
    // Three row groups (DuckDB writes them in multiples of 2,048 rows): three chunks at chunkRows 1,000.
    await writeDataset(storage, 's3://events/wide/', [['part-a.parquet', 0, 3 * 2_048]], {
      rowGroupRows: 2_048,
    });
    scorers = makeScorerPool({ storage, cacheDir: join(dir, 'models'), intraOpThreads: 1 });
    // The worker's QUIVER_MAX_PARQUET_FOOTER_BYTES: the test file's footer (a few KiB) is over 100 bytes.
    startWorker({ maxFooterBytes: 100 });
  }, 60_000);

  /** The pipeline worker with a limit of two chunks per job, and `limits` besides. */
  function startWorker(limits: { maxFooterBytes?: number }): void {
    worker = makePipelineWorker({
      connection: redis,
      prefix,
      queues,
      deps: {
        store,
        storage,
        readers,
        scorers,
        writers: outputWriters,
        maxChunksPerJob: 2,
        ...limits,
        log: makeRecordingLog(),
      },
    });
  }

  /** A job over the three-row-group file at chunkRows 1,000 (three chunks), whose model is never read. */
  const submitWide = () =>
    submitJob(
      { store, queue: queues },
      {
        input: { uri: 's3://events/wide/', format: 'parquet' },
        model: { uri: 's3://models/never-read.onnx', inputs: { features: { columns: featureColumns } } },
        output: { uri: 's3://scores/wide/' },
        batch: { chunkRows: 1_000 },
      },
    );

  afterAll(async () => {
    await worker?.close();
    await queues.close();
    await scorers?.close();
    await readers.close();
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
    await rm(dir, { recursive: true, force: true });
  });

  async function settled(id: string): Promise<JobRecord> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const record = await store.get(id);
      if (record && ['succeeded', 'failed', 'cancelled'].includes(record.status)) return record;
      if (Date.now() > deadline) throw new Error(`job ${id} still ${record?.status}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  it('fails the job at planning with PARQUET_FOOTER_TOO_LARGE past the worker’s footer limit', async () => {
    const { record } = await submitWide();
    const done = await settled(record.id);
    expect(done.status).toBe('failed');
    expect(done.error?.code, done.error?.message).toBe('PARQUET_FOOTER_TOO_LARGE');
    expect(done.error?.uri).toBe('s3://events/wide/part-a.parquet');
  });

  it('fails the job at planning with TOO_MANY_CHUNKS, queueing no chunk', async () => {
    await worker.close();
    startWorker({});
    const { record } = await submitWide();
    const done = await settled(record.id);
    expect(done.status).toBe('failed');
    expect(done.error?.code, done.error?.message).toBe('TOO_MANY_CHUNKS');
    expect(done.error?.message).toContain('more than 2 chunks at batch.chunkRows 1000');
    expect(done.progress.chunksTotal).toBe(0);
    // Failed from its code alone: the plan job failed once, not retried with backoff; the model was never
    // fetched and no chunk was queued.
    expect(await queues.depths()).toMatchObject({
      plan: { failed: 2, delayed: 0 },
      score: { waiting: 0, active: 0, delayed: 0, failed: 0 },
    });
    expect(storage.reads.some((r) => r.uri.endsWith('.onnx'))).toBe(false);
  });
});
