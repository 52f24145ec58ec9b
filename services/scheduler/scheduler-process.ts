import { makeRedisJobStore } from '../queue/job-store.js';
import { makeQueues } from '../queue/queues.js';
import { makeLoggedRedis } from '../queue/redis-connection.js';
import { type JsonLog, makeJsonLog } from '../worker/json-log.js';
import {
  type DrainingProcess,
  type DrainingProcessState,
  type SignalSource,
  drainExitCodes,
  drainOnSignals,
} from '../process/drain-on-signals.js';
import { makeScheduleQueue } from './schedule-queue.js';
import { makeRedisScheduleStore } from './schedule-store.js';
import type { SchedulerConfig } from './scheduler-options.js';
import { makeSchedulerWorker } from './scheduler-worker.js';

export type SchedulerProcessState = DrainingProcessState;

/**
 * How a scheduler process ends (as a worker's): 0 drained, 1 the grace ran out (an unfinished tick is
 * delivered again and finds its day's job), 128 + n on a second signal.
 */
export const schedulerExitCodes = drainExitCodes;

/** Drains ticks: stops taking them, lets the ones in hand finish within the grace period. */
export type SchedulerProcess = DrainingProcess;

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

  const redis = makeLoggedRedis(redisConfig.url, log.error);
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

  const lifecycle = drainOnSignals({
    signals,
    log,
    graceMs: options.shutdownGraceMs,
    drainingMessage: 'draining: no new ticks; finishing the ones in hand',
    graceExpiredMessage: 'grace period over before the drain finished: exiting',
    closeSteps: () => [
      ['start-up sync', () => syncing],
      ['worker', () => worker.close()],
      ['schedule queue', () => scheduleQueue.close()],
      ['queues', () => queues.close()],
      ['redis', () => redis.quit()],
    ],
  });
  log.info('scheduler started', {
    prefix,
    graceMs: options.shutdownGraceMs,
    concurrency: options.concurrency,
  });

  return lifecycle;
}
