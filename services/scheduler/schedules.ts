import type { ScheduleDefinition, ScheduleRecord } from '../../schemas/schedule.js';
import type { ScheduleQueue } from './schedule-queue.js';
import type { ScheduleStore } from '../../jobs/ports/schedule-store.js';

/**
 * Schedules as the API manages them: every write goes to the record and to its BullMQ job scheduler.
 * Reads and run bookkeeping are the store's.
 */
export interface Schedules extends Omit<ScheduleStore, 'put'> {
  /**
   * Creates or replaces the tenant's schedule, then creates, updates or (disabled) removes its job
   * scheduler. Record first: a scheduler whose record is missing would tick for nothing.
   */
  save(tenant: string, definition: ScheduleDefinition): Promise<{ record: ScheduleRecord; created: boolean }>;
  /** Removes the job scheduler (no more ticks), then the record; false when there was no record. */
  delete(tenant: string, name: string): Promise<boolean>;
}

export function makeSchedules(
  store: ScheduleStore,
  queue: Pick<ScheduleQueue, 'apply' | 'remove'>,
): Schedules {
  return {
    get: (tenant, name) => store.get(tenant, name),
    list: (options) => store.list(options),
    recordRun: (tenant, name, run) => store.recordRun(tenant, name, run),
    recordError: (tenant, name, error) => store.recordError(tenant, name, error),
    async save(tenant, definition) {
      const saved = await store.put(tenant, definition);
      await queue.apply(saved.record);
      return saved;
    },
    async delete(tenant, name) {
      await queue.remove(tenant, name);
      return store.delete(tenant, name);
    },
  };
}
