import { constants } from 'node:os';
import { makeRedisJobStore } from '../queue/job-store.js';
import { makeQueues } from '../queue/queues.js';
import { makeRedis } from '../queue/redis-connection.js';
import { type JsonLog, makeJsonLog } from '../worker/json-log.js';
// Types only: the worker's module loads ONNX Runtime and DuckDB, which a scheduler has no use for.
import type { SignalSource } from '../worker/worker-process.js';
import { makeScheduleQueue } from './schedule-queue.js';
import { makeRedisScheduleStore } from './schedule-store.js';
import type { SchedulerConfig } from './scheduler-options.js';
import { makeSchedulerWorker } from './scheduler-worker.js';

export type SchedulerProcessState = 'running' | 'draining' | 'stopped';

/** How a scheduler process ends (as a worker's); a forced exit (second signal) is 128 + the signal's number. */
export const schedulerExitCodes = {
  /** Drained: the ticks in hand finished, every connection closed. */
  drained: 0,
  /** The grace period ran out mid-drain; an unfinished tick is delivered again and finds its day's job. */
  graceExpired: 1,
} as const;

export interface SchedulerProcess {
  readonly state: SchedulerProcessState;
  /** Stops taking ticks, lets the ones in hand finish within the grace period, closes everything. Safe twice. */
  drain(reason: string): Promise<number>;
  /** Resolves once the process should exit: 0 drained, 1 grace ran out, 128 + n on a second signal. */
  readonly exited: Promise<number>;
}

const drainSignals: NodeJS.Signals[] = ['SIGTERM', 'SIGINT'];

/**
 * `quiver scheduler`'s process: brings the BullMQ job schedulers in line with the schedule records, then
 * runs the `schedule` queue's worker, which submits each due schedule's job. Any number may run: ticks
 * are submitted under one idempotency key per schedule and day. The first SIGTERM/SIGINT drains, a second
 * one ends at once (see {@link schedulerExitCodes}).
 */
export function runSchedulerProcess(
  config: SchedulerConfig,
  io: { signals?: SignalSource; log?: JsonLog } = {},
): SchedulerProcess {
  const { scheduler: options, redis: redisConfig } = config;
  const { prefix } = redisConfig;
  const signals = io.signals ?? process;
  const log = (io.log ?? makeJsonLog({ service: 'scheduler' })).child({ pid: process.pid });

  const redis = makeRedis(redisConfig.url);
  let lastRedisError: string | undefined;
  redis.on('error', (error: Error) => {
    // ioredis repeats the same error on every reconnect attempt; one line per distinct error is enough.
    if (error.message !== lastRedisError) log.error('redis error', { error: error.message });
    lastRedisError = error.message;
  });
  redis.on('ready', () => (lastRedisError = undefined));
  const onQueueError = (error: Error) => log.error('queue error', { error: error.message });
  const queues = makeQueues(redis, prefix, onQueueError);
  const scheduleQueue = makeScheduleQueue(redis, prefix, onQueueError);
  const schedules = makeRedisScheduleStore(redis, prefix);
  const worker = makeSchedulerWorker({
    connection: redis,
    prefix,
    concurrency: options.concurrency,
    log,
    deps: {
      store: makeRedisJobStore(redis, prefix),
      enqueuePlan: (jobId, priority) => queues.enqueuePlan(jobId, priority),
      schedules,
      removeScheduler: (tenant, name) => scheduleQueue.remove(tenant, name),
    },
  });

  const syncing = schedules
    .list()
    .then((records) => scheduleQueue.sync(records).then(({ removed }) => ({ records, removed })))
    .then(({ records, removed }) =>
      log.info('job schedulers in sync', { schedules: records.length, removedStale: removed }),
    )
    .catch((error: unknown) => log.error('could not sync job schedulers', { error: String(error) }));

  let state: SchedulerProcessState = 'running';
  let exitCode: number | undefined;
  let resolveExited!: (code: number) => void;
  const exited = new Promise<number>((resolve) => (resolveExited = resolve));
  const finish = (code: number, message: string, context?: Record<string, unknown>): void => {
    if (exitCode !== undefined) return;
    exitCode = code;
    (code === 0 ? log.info : log.error)(message, { state, exitCode: code, ...context });
    for (const signal of drainSignals) signals.off(signal, onSignal);
    resolveExited(code);
  };

  let draining: Promise<number> | undefined;
  const drain = (reason: string): Promise<number> => {
    draining ??= (async () => {
      state = 'draining';
      log.info('draining: no new ticks; finishing the ones in hand', {
        reason,
        graceMs: options.shutdownGraceMs,
      });
      const grace = setTimeout(
        () =>
          finish(schedulerExitCodes.graceExpired, 'grace period over before the drain finished: exiting', {
            reason,
            graceMs: options.shutdownGraceMs,
          }),
        options.shutdownGraceMs,
      );
      grace.unref();
      // Every step runs even when one before it fails.
      const steps: Array<[string, () => Promise<unknown>]> = [
        ['start-up sync', () => syncing],
        ['worker', () => worker.close()],
        ['schedule queue', () => scheduleQueue.close()],
        ['queues', () => queues.close()],
        ['redis', () => redis.quit()],
      ];
      for (const [name, close] of steps) {
        try {
          await close();
        } catch (error) {
          log.error('could not close', { what: name, error: String(error) });
        }
      }
      clearTimeout(grace);
      state = 'stopped';
      finish(schedulerExitCodes.drained, 'stopped', { reason });
      return exited;
    })();
    return draining;
  };

  let signalsSeen = 0;
  function onSignal(signal: NodeJS.Signals): void {
    signalsSeen += 1;
    if (signalsSeen === 1) {
      void drain(signal);
      return;
    }
    finish(128 + (constants.signals[signal] ?? 0), 'second signal: exiting at once', { signal });
  }
  for (const signal of drainSignals) signals.on(signal, onSignal);
  log.info('scheduler started', {
    prefix,
    graceMs: options.shutdownGraceMs,
    concurrency: options.concurrency,
  });

  return {
    get state() {
      return state;
    },
    drain,
    exited,
  };
}
