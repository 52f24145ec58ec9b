import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import type { Redis } from 'ioredis';
import type { DeviceClass } from '../../schemas/device-class.js';
import type { JobRecord } from '../../schemas/job-record.js';
import type { DeliveryConfig } from '../../services/delivery/delivery-options.js';
import { type RedisDeliveries, makeRedisDeliveries } from '../../services/delivery/redis-deliveries.js';
import { makeFormatReaders } from '../../services/formats/make-reader.js';
import { outputWriters } from '../../services/formats/writers/make-writer.js';
import { jobStatusChannel, makeRedisJobStore } from '../../services/queue/job-store.js';
import { makeJobWatcher } from '../../services/queue/job-watcher.js';
import type { JobStore } from '../../jobs/ports/job-store.js';
import { type PipelineQueues, makeQueues } from '../../services/queue/queues.js';
import { makeRedis } from '../../services/queue/redis-connection.js';
import { makeTenantChunkShares } from '../../services/queue/tenant-chunk-shares.js';
import { fileTuningCache } from '../../services/scoring/auto-batch.js';
import { makeRedisScheduleRuns } from '../../services/scheduler/schedule-runs.js';
import { makeScorerPool } from '../../services/scoring/scorer-pool.js';
import { makeProcessCpuMeter } from '../../services/process/cpu-meter.js';
import type { WorkerMetrics } from '../../services/process/metrics.js';
import type { Storage } from '../../jobs/ports/storage.js';
import { type PipelineWorker, makePipelineWorker } from '../../services/worker/pipeline-worker.js';
import { type RecordingLog, lastRecords, makeRecordingLog } from './recording-log.js';

export const FEATURES = 64;
export const featureColumns = Array.from({ length: FEATURES }, (_, i) => `f${i}`);

/**
 * Writes Parquet files of `id` + f0..f63 (deterministic values; ids contiguous across files) and uploads
 * them under `prefixUri`. `nullAt` makes f3 null at that id.
 */
export async function writeDataset(
  storage: Storage,
  prefixUri: string,
  files: Array<[name: string, from: number, count: number]>,
  options: { nullAt?: number; rowGroupRows?: number } = {},
): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'quiver-dataset-'));
  const duck = await DuckDBInstance.create(':memory:');
  const connection = await duck.connect();
  try {
    for (const [name, from, count] of files) {
      const path = join(dir, name);
      const cols = featureColumns
        .map((c, j) =>
          c === 'f3' && options.nullAt !== undefined
            ? `CASE WHEN ${from} + range = ${options.nullAt} THEN NULL ELSE ((range * 7 + ${j}) % 101) / 101.0 END::FLOAT AS ${c}`
            : `((range * 7 + ${j}) % 101 / 101.0)::FLOAT AS ${c}`,
        )
        .join(', ');
      await connection.run(
        `COPY (SELECT (${from} + range)::BIGINT AS id, ${cols} FROM range(${count})) TO '${path}' (FORMAT parquet, ROW_GROUP_SIZE ${options.rowGroupRows ?? 2048})`,
      );
      await storage.write(`${prefixUri}${name}`, await readFile(path));
    }
  } finally {
    connection.closeSync();
    duck.closeSync();
    await rm(dir, { recursive: true, force: true });
  }
}

export interface TestPipeline {
  prefix: string;
  redis: Redis;
  store: JobStore;
  queues: PipelineQueues;
  worker: PipelineWorker;
  /** Webhook deliveries, when the pipeline was started with `deliveries`. */
  deliveries?: RedisDeliveries;
  /** What the pipeline logged, as parsed records. */
  log: RecordingLog;
  /** Polls until the job is succeeded, failed, cancelled or expired. */
  settle(id: string, timeoutMs?: number): Promise<JobRecord>;
  /** Closes the worker, queues, sessions and connection, and deletes the prefix's keys. Safe twice. */
  close(): Promise<void>;
}

/** The pipeline in this process against a real Redis, under a random hash-tagged prefix. */
export async function startPipeline(options: {
  storage: Storage;
  redisUrl?: string;
  workStorage?: Storage;
  chunkStallMs?: number;
  /** Delivers webhooks of finished jobs with this configuration (default: no webhooks are sent). */
  deliveries?: DeliveryConfig;
  /** Scopes each job's storage to its tenant (`PipelineDeps.storageFor`). */
  storageFor?: (tenant: string) => Storage;
  /** Where the processors and the score queue's failures report (`deps.metrics`); default nothing is counted. */
  metrics?: WorkerMetrics;
  /** Tenants' running-chunk shares (`limits.maxRunningChunks`), by tenant; default none. */
  maxRunningChunks?: Record<string, number>;
  /** Chunks this pipeline scores at once (the worker's `scoreConcurrency`, default 2). */
  scoreConcurrency?: number;
  /** Device classes whose chunks the worker takes (`PipelineWorkerOptions.scoreClasses`); default cpu, any. */
  scoreClasses?: readonly DeviceClass[];
  /** Gives finalize the schedules' runs under the prefix, for `quality.baseline: "previous"`. Default none. */
  scheduleRuns?: boolean;
  /**
   * Joins another pipeline's prefix (a second worker on the same queues and jobs); its keys are then left
   * for that pipeline's `close` to delete. Default: a fresh random prefix, deleted on close.
   */
  prefix?: string;
}): Promise<TestPipeline> {
  const prefix = options.prefix ?? `{test-${randomUUID().slice(0, 8)}}`;
  const dir = await mkdtemp(join(tmpdir(), 'quiver-pipeline-'));
  const redis = makeRedis(options.redisUrl ?? 'redis://127.0.0.1:6379');
  const store = makeRedisJobStore(redis, prefix);
  const log = makeRecordingLog();
  const queues = makeQueues(redis, prefix, (error) => log.error({ err: error }, 'queue error'));
  const storage = options.workStorage ?? options.storage;
  const readers = makeFormatReaders();
  const deliveries = options.deliveries && makeRedisDeliveries({ redis, prefix, queues });
  const metrics = options.metrics;
  const scorers = makeScorerPool({
    storage,
    cacheDir: join(dir, 'models'),
    intraOpThreads: 1,
    tuningCache: fileTuningCache(join(dir, 'tuning.json')),
    ...(metrics ? { onInference: (...call) => metrics.inference(...call) } : {}),
  });
  const sharesOf = (shares: Record<string, number>) =>
    makeTenantChunkShares({ redis, prefix, shareOf: (tenant) => shares[tenant], leaseMs: 30_000, log });
  const events = makeJobWatcher(redis.duplicate(), jobStatusChannel(prefix));
  await events.start();
  const worker = makePipelineWorker({
    connection: redis,
    prefix,
    queues,
    ...(options.scoreClasses ? { scoreClasses: options.scoreClasses } : {}),
    ...(options.chunkStallMs !== undefined ? { chunkStallMs: options.chunkStallMs } : {}),
    ...(options.scoreConcurrency !== undefined ? { scoreConcurrency: options.scoreConcurrency } : {}),
    ...(options.metrics ? { metrics: options.metrics } : {}),
    ...(deliveries && options.deliveries
      ? { deliver: { ledger: deliveries, config: options.deliveries } }
      : {}),
    deps: {
      ...(deliveries ? { onTerminal: (record: JobRecord) => deliveries.announce(record) } : {}),
      store,
      storage,
      ...(options.storageFor ? { storageFor: options.storageFor } : {}),
      ...(options.maxRunningChunks ? { chunkShares: sharesOf(options.maxRunningChunks) } : {}),
      ...(options.metrics ? { metrics: options.metrics } : {}),
      cpu: makeProcessCpuMeter(),
      readers,
      scorers,
      writers: outputWriters,
      events,
      ...(options.scheduleRuns ? { scheduleRuns: makeRedisScheduleRuns(redis, prefix) } : {}),
      log,
    },
  });
  let closing: Promise<void> | undefined;
  return {
    prefix,
    redis,
    store,
    queues,
    worker,
    ...(deliveries ? { deliveries } : {}),
    log,
    async settle(id, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const record = await store.get(id);
        if (record && ['succeeded', 'failed', 'cancelled', 'expired'].includes(record.status)) return record;
        if (Date.now() > deadline) throw new Error(`job ${id} still ${record?.status}: ${lastRecords(log)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    close() {
      closing ??= (async () => {
        // A test may have left this pipeline's Redis down; teardown must not wait for it forever.
        const bounded = (p: Promise<unknown>) =>
          Promise.race([p, new Promise((r) => setTimeout(r, 10_000).unref())]);
        await bounded(worker.close());
        await bounded(events.close());
        await bounded(queues.close());
        await scorers.close();
        await readers.close();
        if (options.prefix === undefined) {
          const keys = await redis.keys(`${prefix}*`).catch(() => [] as string[]);
          if (keys.length > 0) await redis.del(...keys).catch(() => 0);
        }
        redis.disconnect();
        await rm(dir, { recursive: true, force: true });
      })();
      return closing;
    },
  };
}
