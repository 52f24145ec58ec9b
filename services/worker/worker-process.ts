import { makeRedisDeliveries } from '../delivery/redis-deliveries.js';
import { makeFormatReaders } from '../formats/make-reader.js';
import { outputWriters } from '../formats/writers/make-writer.js';
import { makeJobWatcher } from '../queue/job-watcher.js';
import { jobStatusChannel, makeRedisJobStore } from '../queue/job-store.js';
import { makeQueues } from '../queue/queues.js';
import { makeRedisScheduleRuns } from '../scheduler/schedule-runs.js';
import { startDeadlineSweeper } from '../queue/deadline-sweeper.js';
import { systemClock } from '../../jobs/ports/clock.js';
import { duplicateClient, makeLoggedRedis } from '../queue/redis-connection.js';
import { fileTuningCache } from '../scoring/auto-batch.js';
import { formatDeviceRequest } from '../scoring/devices.js';
import { makeScorerPool } from '../scoring/scorer-pool.js';
import { type Tenancy, tenantStorage } from '../tenancy/tenancy.js';
import { makeTenantChunkShares } from '../queue/tenant-chunk-shares.js';
import {
  type DrainingProcess,
  type DrainingProcessState,
  type SignalSource,
  drainExitCodes,
  drainOnSignals,
} from '../process/drain-on-signals.js';
import { makeStorage } from '../storage/make-storage.js';
import type { Log } from '../../jobs/ports/log.js';
import { logOptionsFromEnv, makeLog } from '../process/log.js';
import { makeProcessCpuMeter } from '../process/cpu-meter.js';
import { makeMetricsRegistry, makeWorkerMetrics, serveMetrics } from '../process/metrics.js';
import { makePipelineWorker } from './pipeline-worker.js';
import { type SpotNoticeWatcher, watchSpotNotice } from './spot-notice.js';
import { type WorkerConfig, scoreClassesFor } from './worker-options.js';

export type { SignalSource } from '../process/drain-on-signals.js';
export type WorkerProcessState = DrainingProcessState;

/**
 * How a worker process ends (see `drainExitCodes`): 0 drained, 1 the grace ran out (the unfinished chunk is
 * re-run elsewhere once its lock expires), 128 + n on a second signal.
 */
export const workerExitCodes = drainExitCodes;

export interface WorkerProcessIo {
  /** Default `process`. Handlers are registered once per source and removed when the process stops. */
  signals?: SignalSource;
  /** Default: {@link makeLog} as `QUIVER_LOG_*` ask (JSON lines on stdout unless on a terminal). */
  log?: Log;
  /** Port to serve `/metrics` on (`QUIVER_METRICS_PORT`, which `quiver worker` passes). Default `off`. */
  metricsPort?: number | 'off';
}

/** Drains chunks: stops taking them, lets the ones in hand finish within the grace period. */
export type WorkerProcess = DrainingProcess;

/**
 * One worker process on one device: Redis, job store, queues, storage, readers, a scorer pool and the
 * pipeline's BullMQ workers, webhook delivery included. The first SIGTERM/SIGINT (or a spot interruption
 * notice) drains; a second signal ends at once. The caller exits with the code `exited` resolves to.
 */
export function runWorkerProcess(config: WorkerConfig, io: WorkerProcessIo = {}): WorkerProcess {
  const { worker: options, redis: redisConfig } = config;
  const device = options.devices[0];
  if (!device || options.devices.length !== 1) {
    throw new Error(
      `runWorkerProcess runs one device, got ${options.devices.length}: start one process per device`,
    );
  }
  const signals = io.signals ?? process;

  const log = (io.log ?? makeLog(logOptionsFromEnv(process.env))).child({
    device: formatDeviceRequest(device),
  });
  if (device.warning !== undefined) log.warn({}, device.warning);

  const redis = makeLoggedRedis(redisConfig, log);
  const registry = makeMetricsRegistry();
  const metrics = makeWorkerMetrics(registry);
  const metricsPort = io.metricsPort ?? 'off';
  const metricsServer = metricsPort === 'off' ? undefined : serveMetrics(registry, metricsPort, log);
  const storage = makeStorage(config.storage);
  const readers = makeFormatReaders({
    text: { maxRecordBytes: options.maxRecordBytes },
    parquet: { maxFooterBytes: options.maxFooterBytes },
  });
  const scorers = makeScorerPool({
    storage,
    cacheDir: options.modelCacheDir,
    maxOpenModels: options.maxOpenModels,
    maxModelBytes: options.maxModelBytes,
    tuningCache: fileTuningCache(options.tuningCachePath),
    device,
    log: (message) => log.info({}, message),
    onInference: (label, rows, seconds) => metrics.inference(label, rows, seconds),
  });
  const queues = makeQueues(redis, redisConfig.prefix);
  // One subscription per process: running chunks hear their job leave `running` at once.
  const events = makeJobWatcher(duplicateClient(redis), jobStatusChannel(redisConfig.prefix), (error) =>
    log.warn({ err: error }, 'status subscription error'),
  );
  void events.start().catch((error: unknown) => log.warn({ err: error }, 'status subscription failed'));
  const deliveries = makeRedisDeliveries({ redis, prefix: redisConfig.prefix, queues });
  // A slot lasts as long as a chunk's lock: a killed worker's slots come back when its chunks can be re-run.
  const chunkSharesOf = (tenancy: Tenancy) =>
    makeTenantChunkShares({
      redis,
      prefix: redisConfig.prefix,
      shareOf: (tenant) => tenancy.maxRunningChunksFor(tenant),
      leaseMs: options.lockDurationMs,
      log,
    });
  const scoreClasses = scoreClassesFor(device, options.scoreClasses);
  const pipeline = makePipelineWorker({
    connection: redis,
    prefix: redisConfig.prefix,
    queues,
    scoreClasses,
    lockDurationMs: options.lockDurationMs,
    deliver: { ledger: deliveries, config: config.delivery },
    metrics,
    deps: {
      metrics,
      cpu: makeProcessCpuMeter(),
      // Every job that ends (succeeded, failed, cancelled) queues its webhook, when its spec has one.
      onTerminal: (record) => deliveries.announce(record),
      store: makeRedisJobStore(redis, redisConfig.prefix),
      storage,
      ...(config.tenancy ? { storageFor: tenantStorage(storage, config.tenancy) } : {}),
      ...(config.tenancy?.sharesChunks ? { chunkShares: chunkSharesOf(config.tenancy) } : {}),
      readers,
      scorers,
      writers: outputWriters,
      checkpointMs: options.checkpointMs,
      maxChunksPerJob: options.maxChunksPerJob,
      maxFooterBytes: options.maxFooterBytes,
      events,
      // `quality.baseline: "previous"`: finalize looks up the schedule's last succeeded run.
      scheduleRuns: makeRedisScheduleRuns(redis, redisConfig.prefix),
      log,
    },
  });

  const deadlines = startDeadlineSweeper({
    store: makeRedisJobStore(redis, redisConfig.prefix),
    queue: queues,
    onTerminal: (record) => deliveries.announce(record),
    now: systemClock,
    log,
  });

  let spot: SpotNoticeWatcher | undefined;
  const lifecycle = drainOnSignals({
    signals,
    log,
    graceMs: options.shutdownGraceMs,
    drainingMessage: 'draining: no new chunks; finishing the ones in hand',
    graceExpiredMessage:
      'grace period over before the drain finished: exiting; unfinished chunks run again elsewhere once their locks expire',
    onDrain: () => spot?.stop(),
    closeSteps: () => [
      ['deadline sweeper', () => deadlines.close()],
      ['workers', () => pipeline.close()],
      ['status subscription', () => events.close()],
      ['queues', () => queues.close()],
      ['scorers', () => scorers.close()],
      ['readers', () => readers.close()],
      ['storage', () => storage.close()],
      ['redis', () => redis.quit()],
      // Last: a scrape during the drain still sees the chunks in hand finish.
      ['metrics server', () => metricsServer?.close()],
    ],
  });
  if (options.spotNoticeUrl !== undefined) {
    spot = watchSpotNotice({
      url: options.spotNoticeUrl,
      pollMs: options.spotPollMs,
      log,
      onNotice: () => void lifecycle.drain('spot interruption notice'),
    });
  }
  log.info(
    {
      prefix: redisConfig.prefix,
      scoreClasses,
      lockMs: options.lockDurationMs,
      graceMs: options.shutdownGraceMs,
      spotNoticeUrl: options.spotNoticeUrl ?? null,
    },
    'worker started',
  );

  return lifecycle;
}
