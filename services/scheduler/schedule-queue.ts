import { type ConnectionOptions, Queue } from 'bullmq';
import type { ScheduleRecord } from '../../schemas/schedule.js';

/** Name of the queue the ticks of every schedule go through, under the deployment's prefix. */
export const scheduleQueueName = 'schedule';

/** What a tick carries: which schedule is due. The time it was due is the BullMQ job's own. */
export interface TickPayload {
  tenant: string;
  name: string;
}

/** BullMQ job scheduler id of a schedule; tenants and names hold no `/`, and ids must hold no `:`. */
export const schedulerIdOf = (tenant: string, name: string): string => `${tenant}/${name}`;

/** The BullMQ side of schedules: one job scheduler per enabled schedule, emitting `tick` jobs. */
export interface ScheduleQueue {
  queue: Queue<TickPayload>;
  /** Creates or updates the schedule's job scheduler (pattern, time zone), or removes it when disabled. */
  apply(record: Pick<ScheduleRecord, 'tenant' | 'name' | 'cron' | 'timezone' | 'enabled'>): Promise<void>;
  /** Removes the schedule's job scheduler and its pending tick; false when there was none. */
  remove(tenant: string, name: string): Promise<boolean>;
  /**
   * Makes the job schedulers match `records` exactly: upserts every enabled one, removes any other (left
   * by a process that stopped between writing a record and its scheduler). Returns what it removed.
   */
  sync(records: readonly ScheduleRecord[]): Promise<{ removed: string[] }>;
  close(): Promise<void>;
}

export function makeScheduleQueue(
  connection: ConnectionOptions,
  prefix: string,
  /** Connection errors (Redis restarting); BullMQ reconnects by itself. Default: stderr. */
  onError: (error: Error) => void = (error) => console.error(`schedule queue: ${error.message}`),
): ScheduleQueue {
  const queue = new Queue<TickPayload>(scheduleQueueName, {
    connection,
    prefix,
    defaultJobOptions: {
      // A tick that fails on Redis trouble is tried again; a day's job is submitted once whatever happens.
      attempts: 3,
      backoff: { type: 'exponential', delay: 1_000 },
      removeOnComplete: { age: 24 * 3600, count: 1_000 },
      removeOnFail: { age: 7 * 24 * 3600, count: 1_000 },
    },
  });
  queue.on('error', onError);
  const remove = (tenant: string, name: string) => queue.removeJobScheduler(schedulerIdOf(tenant, name));
  const apply: ScheduleQueue['apply'] = async (record) => {
    if (!record.enabled) {
      await remove(record.tenant, record.name);
      return;
    }
    await queue.upsertJobScheduler(
      schedulerIdOf(record.tenant, record.name),
      { pattern: record.cron, tz: record.timezone },
      { name: 'tick', data: { tenant: record.tenant, name: record.name } },
    );
  };
  let closing: Promise<void> | undefined;
  return {
    queue,
    apply,
    remove,
    async sync(records) {
      for (const record of records) await apply(record);
      const wanted = new Set(records.filter((r) => r.enabled).map((r) => schedulerIdOf(r.tenant, r.name)));
      const removed: string[] = [];
      for (const scheduler of await queue.getJobSchedulers()) {
        if (wanted.has(scheduler.key)) continue;
        await queue.removeJobScheduler(scheduler.key);
        removed.push(scheduler.key);
      }
      return { removed };
    },
    close() {
      closing ??= queue.close();
      return closing;
    },
  };
}
