import { sweepExpiredJobs } from '../../jobs/retention/sweep-expired-jobs.js';
import { makeRedisDeliveries } from '../delivery/redis-deliveries.js';
import { makeRedisJobStore } from '../queue/job-store.js';
import { makeQueues } from '../queue/queues.js';
import { makeLoggedRedis } from '../queue/redis-connection.js';
import { specAuthorizer } from '../tenancy/authorize-spec.js';
import type { Log } from '../../jobs/ports/log.js';
import { logOptionsFromEnv, makeLog } from '../process/log.js';
import {
  makeMetricsRegistry,
  registerJobMetrics,
  registerQueueMetrics,
  serveMetrics,
} from '../process/metrics.js';
import {
  type DrainingProcess,
  type DrainingProcessState,
  type SignalSource,
  drainExitCodes,
  drainOnSignals,
} from '../process/drain-on-signals.js';
import { makeScheduleQueue } from './schedule-queue.js';
import { makeRedisScheduleRuns } from './schedule-runs.js';
import { makeRedisScheduleStore } from './schedule-store.js';
import { tickSchedule } from '../../jobs/schedule/tick-schedule.js';
import type { Clock } from '../../jobs/ports/clock.js';
import { DAY_MS, type SchedulerConfig } from './scheduler-options.js';
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
 * runs the `schedule` queue's worker, which submits each due schedule's job, and sweeps away the records
 * of jobs that ended longer ago than the retention period (at start, then hourly). Any number may run: ticks
 * are submitted under one idempotency key per schedule and day. The first SIGTERM/SIGINT drains, a second
 * one ends at once (see {@link schedulerExitCodes}).
 */
export function runSchedulerProcess(
  config: SchedulerConfig,
  io: {
    signals?: SignalSource;
    /** Default: {@link makeLog} as `QUIVER_LOG_*` ask. */
    log?: Log;
    /** Port to serve the queues' `/metrics` on (`QUIVER_METRICS_PORT`, which `quiver scheduler` passes). Default `off`. */
    metricsPort?: number | 'off';
    /** The time as the scheduler reads it (catch-up, run bookkeeping). Default the system clock. */
    now?: Clock;
  } = {},
): SchedulerProcess {
  const { scheduler: options, redis: redisConfig } = config;
  const { prefix } = redisConfig;
  const signals = io.signals ?? process;
  const log = (io.log ?? makeLog(logOptionsFromEnv(process.env))).child({ service: 'scheduler' });

  const redis = makeLoggedRedis(redisConfig, log);
  const onQueueError = (error: Error) => log.error({ err: error }, 'queue error');
  const queues = makeQueues(redis, prefix, onQueueError);
  // The queues are seen from here too: a worker pool scaled to zero serves no metrics.
  const metricsPort = io.metricsPort ?? 'off';
  const store = makeRedisJobStore(redis, prefix);
  const registry = makeMetricsRegistry();
  registerQueueMetrics(registry, queues);
  registerJobMetrics(registry, store);
  const metricsServer = metricsPort === 'off' ? undefined : serveMetrics(registry, metricsPort, log);
  const scheduleQueue = makeScheduleQueue(redis, prefix, onQueueError);
  const schedules = makeRedisScheduleStore(redis, prefix);
  const now: Clock = io.now ?? (() => new Date());
  const deps = {
    store,
    queue: queues,
    ...(config.tenancy ? { authorize: specAuthorizer(config.tenancy) } : {}),
    schedules,
    runs: makeRedisScheduleRuns(redis, prefix),
    now,
    removeScheduler: (tenant: string, name: string) => scheduleQueue.remove(tenant, name),
  };
  const worker = makeSchedulerWorker({
    connection: redis,
    prefix,
    concurrency: options.concurrency,
    log,
    deps,
  });

  // Every schedule brought up to now: missed ticks caught up per its policy, finished runs let waiting ones
  // start. At start, then every `sweepMs`, in every scheduler process (all of it idempotent by logical time).
  let sweepingSchedules: Promise<void> | undefined;
  const stopSchedules = new AbortController();
  const sweepSchedules = (): Promise<void> => {
    if (sweepingSchedules !== undefined || stopSchedules.signal.aborted)
      return sweepingSchedules ?? Promise.resolve();
    sweepingSchedules = (async () => {
      for (const record of await schedules.list()) {
        if (stopSchedules.signal.aborted) return;
        try {
          await tickSchedule({ ...deps, log }, record);
        } catch (error) {
          log.error({ err: error, tenant: record.tenant, schedule: record.name }, 'schedule sweep failed');
        }
      }
    })()
      .catch((error: unknown) => log.error({ err: error }, 'schedule sweep failed'))
      .finally(() => {
        sweepingSchedules = undefined;
      });
    return sweepingSchedules;
  };
  const scheduleTimer = setInterval(() => void sweepSchedules(), options.sweepMs);
  scheduleTimer.unref();

  const syncing = schedules
    .list()
    .then((records) => scheduleQueue.sync(records).then(({ removed }) => ({ records, removed })))
    .then(({ records, removed }) =>
      log.info({ schedules: records.length, removedStale: removed }, 'job schedulers in sync'),
    )
    .catch((error: unknown) => log.error({ err: error }, 'could not sync job schedulers'))
    .then(() => sweepSchedules())
    .then(() => log.info({}, 'schedules caught up'));

  // Retention: ended jobs' records go after `jobRetentionMs`, swept at start and then periodically.
  const retentionMs = options.jobRetentionMs;
  const stopSweeping = new AbortController();
  const deliveries = makeRedisDeliveries({ redis, prefix, queues });
  let sweeping: Promise<void> | undefined;
  const sweep = (): void => {
    if (retentionMs === undefined || sweeping !== undefined || stopSweeping.signal.aborted) return;
    sweeping = sweepExpiredJobs(
      { store, forgetDeliveries: (id) => deliveries.forget(id), now: () => new Date() },
      { retentionMs, signal: stopSweeping.signal },
    )
      .then(({ deleted, examined }) => {
        if (deleted > 0) log.info({ deleted, examined, retentionMs }, 'expired jobs removed');
      })
      .catch((error: unknown) => log.error({ err: error }, 'retention sweep failed'))
      .finally(() => {
        sweeping = undefined;
      });
  };
  const sweepTimer = setInterval(sweep, options.retentionSweepMs);
  sweepTimer.unref();
  sweep();

  const lifecycle = drainOnSignals({
    signals,
    log,
    graceMs: options.shutdownGraceMs,
    drainingMessage: 'draining: no new ticks; finishing the ones in hand',
    graceExpiredMessage: 'grace period over before the drain finished: exiting',
    closeSteps: () => [
      [
        'schedule sweep',
        async () => {
          clearInterval(scheduleTimer);
          stopSchedules.abort();
          await sweepingSchedules;
        },
      ],
      [
        'retention sweep',
        async () => {
          clearInterval(sweepTimer);
          stopSweeping.abort();
          await sweeping;
        },
      ],
      ['start-up sync', () => syncing],
      ['worker', () => worker.close()],
      // Before the queues it reads at every scrape.
      ['metrics server', () => metricsServer?.close()],
      ['schedule queue', () => scheduleQueue.close()],
      ['queues', () => queues.close()],
      ['redis', () => redis.quit()],
    ],
  });
  log.info(
    {
      prefix,
      graceMs: options.shutdownGraceMs,
      concurrency: options.concurrency,
      jobRetentionDays: retentionMs === undefined ? 'off' : retentionMs / DAY_MS,
    },
    'scheduler started',
  );

  return lifecycle;
}
