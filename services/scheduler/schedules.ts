import type { ScheduleDefinition, ScheduleRecord } from '../../schemas/schedule.js';
import type { ScheduleQueue } from './schedule-queue.js';
import type { ScheduleRuns } from '../../jobs/ports/schedule-runs.js';
import type { ScheduleStore } from '../../jobs/ports/schedule-store.js';

/**
 * Schedules as the API manages them: every write goes to the record and to its BullMQ job scheduler.
 * Reads and run bookkeeping are the store's; the runs of each schedule are `runs`'.
 */
export interface Schedules extends Omit<ScheduleStore, 'put'> {
  runs: ScheduleRuns;
  /**
   * Creates or replaces the tenant's schedule, then creates, updates or (paused) removes its job
   * scheduler. Record first: a scheduler whose record is missing would tick for nothing.
   */
  save(tenant: string, definition: ScheduleDefinition): Promise<{ record: ScheduleRecord; created: boolean }>;
  /** Pauses or resumes a schedule, keeping the rest of its definition; undefined when there is none. */
  setPaused(tenant: string, name: string, paused: boolean): Promise<ScheduleRecord | undefined>;
  /** Removes the job scheduler (no more ticks), then the record and its runs; false when there was no record. */
  delete(tenant: string, name: string): Promise<boolean>;
}

/** The definition a stored record was saved from. */
export function definitionOf(record: ScheduleRecord): ScheduleDefinition {
  const { name, cron, timezone, job, paused, catchUp, catchUpWindow, maxActiveRuns } = record;
  return { name, cron, timezone, job, paused, enabled: !paused, catchUp, catchUpWindow, maxActiveRuns };
}

export function makeSchedules(
  store: ScheduleStore,
  queue: Pick<ScheduleQueue, 'apply' | 'remove'>,
  runs: ScheduleRuns,
): Schedules {
  const save: Schedules['save'] = async (tenant, definition) => {
    const saved = await store.put(tenant, definition);
    await queue.apply(saved.record);
    return saved;
  };
  return {
    runs,
    get: (tenant, name) => store.get(tenant, name),
    list: (options) => store.list(options),
    recordRun: (tenant, name, run) => store.recordRun(tenant, name, run),
    recordError: (tenant, name, error) => store.recordError(tenant, name, error),
    save,
    async setPaused(tenant, name, paused) {
      const record = await store.get(tenant, name);
      if (record === undefined) return undefined;
      return (await save(tenant, { ...definitionOf(record), paused, enabled: !paused })).record;
    },
    async delete(tenant, name) {
      await queue.remove(tenant, name);
      const deleted = await store.delete(tenant, name);
      await runs.forget(tenant, name);
      return deleted;
    },
  };
}
