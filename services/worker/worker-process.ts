import { constants } from 'node:os';
import { makeRedisDeliveries } from '../delivery/redis-deliveries.js';
import { makeFormatReaders } from '../formats/make-reader.js';
import { makeRedisJobStore } from '../queue/job-store.js';
import { makeQueues } from '../queue/queues.js';
import { makeRedis } from '../queue/redis-connection.js';
import { fileTuningCache } from '../scoring/auto-batch.js';
import { formatDeviceRequest } from '../scoring/devices.js';
import { makeScorerPool } from '../scoring/scorer-pool.js';
import { makeStorage } from '../storage/make-storage.js';
import { type JsonLog, makeJsonLog } from './json-log.js';
import { makePipelineWorker } from './pipeline-worker.js';
import { type SpotNoticeWatcher, watchSpotNotice } from './spot-notice.js';
import type { WorkerConfig } from './worker-options.js';

export type WorkerProcessState = 'running' | 'draining' | 'stopped';

/** How a worker process ends; a forced exit (second signal) is 128 + the signal's number, as shells report. */
export const workerExitCodes = {
  /** Drained: the chunk in hand finished, every connection closed. */
  drained: 0,
  /** The grace period ran out mid-drain; the unfinished chunk is re-run elsewhere once its lock expires. */
  graceExpired: 1,
} as const;

/** Where signals come from: `process`, or a stand-in in tests. */
export interface SignalSource {
  on(signal: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): unknown;
  off(signal: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): unknown;
}

export interface WorkerProcessIo {
  /** Default `process`. Handlers are registered once per source and removed when the process stops. */
  signals?: SignalSource;
  /** Default: JSON lines on stdout/stderr. */
  log?: JsonLog;
}

export interface WorkerProcess {
  readonly state: WorkerProcessState;
  /**
   * Stops taking chunks, lets the ones in hand finish within the grace period, closes everything. Safe to
   * call any number of times; returns {@link exited}.
   */
  drain(reason: string): Promise<number>;
  /** Resolves once the process should exit, with its exit code (see {@link workerExitCodes}). */
  readonly exited: Promise<number>;
}

const drainSignals: NodeJS.Signals[] = ['SIGTERM', 'SIGINT'];
/** Sources that already carry a worker's handlers: a second registration would drain twice per signal. */
const registered = new WeakSet<SignalSource>();

/**
 * One worker process on one device: Redis, job store, queues, storage, readers, a scorer pool and the
 * pipeline's BullMQ workers, webhook delivery included. The first SIGTERM/SIGINT (or a spot interruption notice) drains; a second
 * signal ends at once. The caller exits with the code {@link WorkerProcess.exited} resolves to.
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
  if (registered.has(signals)) throw new Error('a worker process is already running in this process');
  registered.add(signals);

  const log = (io.log ?? makeJsonLog()).child({ pid: process.pid, device: formatDeviceRequest(device) });
  if (device.warning !== undefined) log.info(device.warning);

  const redis = makeRedis(redisConfig.url);
  let lastRedisError: string | undefined;
  redis.on('error', (error: Error) => {
    // ioredis repeats the same error on every reconnect attempt; one line per distinct error is enough.
    if (error.message !== lastRedisError) log.error('redis error', { error: error.message });
    lastRedisError = error.message;
  });
  redis.on('ready', () => (lastRedisError = undefined));
  const storage = makeStorage(config.storage);
  const readers = makeFormatReaders();
  const scorers = makeScorerPool({
    storage,
    cacheDir: options.modelCacheDir,
    device,
    log: (message) => log.info(message),
  });
  const queues = makeQueues(redis, redisConfig.prefix);
  const deliveries = makeRedisDeliveries({ redis, prefix: redisConfig.prefix, queues });
  const pipeline = makePipelineWorker({
    connection: redis,
    prefix: redisConfig.prefix,
    queues,
    lockDurationMs: options.lockDurationMs,
    deliver: { ledger: deliveries, config: config.delivery },
    deps: {
      // Every job that ends (succeeded, failed, cancelled) queues its webhook, when its spec has one.
      onTerminal: (record) => deliveries.announce(record),
      store: makeRedisJobStore(redis, redisConfig.prefix),
      storage,
      readers,
      scorers,
      tuningCache: fileTuningCache(options.tuningCachePath),
      checkpointMs: options.checkpointMs,
      log: log.info,
    },
  });

  let state: WorkerProcessState = 'running';
  let exitCode: number | undefined;
  let resolveExited!: (code: number) => void;
  const exited = new Promise<number>((resolve) => (resolveExited = resolve));
  const finish = (code: number, message: string, context?: Record<string, unknown>): void => {
    if (exitCode !== undefined) return;
    exitCode = code;
    (code === 0 ? log.info : log.error)(message, { state, exitCode: code, ...context });
    for (const signal of drainSignals) signals.off(signal, onSignal);
    registered.delete(signals);
    resolveExited(code);
  };

  let spot: SpotNoticeWatcher | undefined;
  let draining: Promise<number> | undefined;
  const drain = (reason: string): Promise<number> => {
    draining ??= (async () => {
      state = 'draining';
      spot?.stop();
      log.info('draining: no new chunks; finishing the ones in hand', {
        reason,
        graceMs: options.shutdownGraceMs,
      });
      const grace = setTimeout(
        () =>
          finish(
            workerExitCodes.graceExpired,
            'grace period over before the drain finished: exiting; unfinished chunks run again elsewhere once their locks expire',
            { reason, graceMs: options.shutdownGraceMs },
          ),
        options.shutdownGraceMs,
      );
      grace.unref();
      try {
        await pipeline.close();
        // Every step runs even when one before it fails.
        const steps: Array<[string, () => Promise<unknown> | void]> = [
          ['queues', () => queues.close()],
          ['scorers', () => scorers.close()],
          ['readers', () => readers.close()],
          ['storage', () => storage.close()],
          ['redis', () => redis.quit()],
        ];
        for (const [name, close] of steps) {
          try {
            await close();
          } catch (error) {
            log.error('could not close', { what: name, error: String(error) });
          }
        }
      } finally {
        clearTimeout(grace);
      }
      state = 'stopped';
      finish(workerExitCodes.drained, 'stopped', { reason });
      return exited;
    })();
    return draining;
  };

  let signalsSeen = 0;
  function onSignal(signal: NodeJS.Signals): void {
    signalsSeen += 1;
    // Only a second *signal* forces: a drain started by a spot notice still finishes its chunk when the
    // instance's own SIGTERM arrives.
    if (signalsSeen === 1) {
      void drain(signal);
      return;
    }
    finish(128 + (constants.signals[signal] ?? 0), 'second signal: exiting at once', { signal });
  }
  for (const signal of drainSignals) signals.on(signal, onSignal);

  if (options.spotNoticeUrl !== undefined) {
    spot = watchSpotNotice({
      url: options.spotNoticeUrl,
      pollMs: options.spotPollMs,
      log: log.info,
      onNotice: () => void drain('spot interruption notice'),
    });
  }
  log.info('worker started', {
    prefix: redisConfig.prefix,
    lockMs: options.lockDurationMs,
    graceMs: options.shutdownGraceMs,
    spotNoticeUrl: options.spotNoticeUrl ?? null,
  });

  return {
    get state() {
      return state;
    },
    drain,
    exited,
  };
}
