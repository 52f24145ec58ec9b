import { type ConnectionOptions, type Job, UnrecoverableError, Worker } from 'bullmq';
import { type TickDeps, processTick } from '../../jobs/schedule/process-tick.js';
import type { Log } from '../../jobs/ports/log.js';
import { ScheduleInvalid } from '../../schemas/errors/schedule-invalid.js';
import { isRefusal } from '../../jobs/schedule/run-schedule.js';
import { type TickPayload, scheduleQueueName } from './schedule-queue.js';

export interface SchedulerWorkerOptions {
  connection: ConnectionOptions;
  prefix: string;
  deps: Omit<TickDeps, 'log'>;
  log: Log;
  /** Ticks processed at once. Default 4. */
  concurrency?: number;
}

/**
 * When a tick was due: the time its job scheduler planned it for (`prevMillis`), not when a worker got
 * to it, so a tick processed late (or again, after a crash) still renders the day it was due.
 */
export function dueAtOf(job: Pick<Job, 'opts' | 'timestamp'>): Date {
  return new Date(job.opts.prevMillis ?? job.timestamp + (job.opts.delay ?? 0));
}

/**
 * The BullMQ worker of the `schedule` queue: each tick submits its schedule's job for the day it was due.
 * A template that no longer renders to a valid job spec, or reaches outside the tenant's storage grants,
 * fails the tick at once (no retries: retrying cannot fix it), logged and recorded on the schedule as
 * `lastError`; other failures are retried.
 */
export function makeSchedulerWorker(options: SchedulerWorkerOptions): Worker<TickPayload> {
  const { log } = options;
  const deps: TickDeps = { ...options.deps, log };
  const worker = new Worker<TickPayload>(
    scheduleQueueName,
    async (job) => {
      try {
        return await processTick(deps, job.data, dueAtOf(job));
      } catch (error) {
        // A refusal (the template no longer renders to a valid spec, or reaches outside the tenant's
        // grants) was recorded on the schedule; retrying cannot fix it.
        if (!isRefusal(error)) throw error;
        const { code } = error as { code?: string };
        log.error(
          {
            tenant: job.data.tenant,
            schedule: job.data.name,
            code,
            problems: error instanceof ScheduleInvalid ? error.problems : undefined,
          },
          error instanceof ScheduleInvalid
            ? 'tick failed: the job template no longer renders to a valid job spec'
            : 'tick refused: the job template reaches outside the tenant’s storage grants',
        );
        throw new UnrecoverableError((error as Error).message);
      }
    },
    {
      connection: options.connection,
      prefix: options.prefix,
      concurrency: options.concurrency ?? 4,
    },
  );
  worker.on('failed', (job, error) => {
    if (error instanceof UnrecoverableError) return;
    log.error({ tenant: job?.data.tenant, schedule: job?.data.name, err: error }, 'tick failed');
  });
  worker.on('error', (error) => log.error({ err: error }, 'schedule worker error'));
  return worker;
}
