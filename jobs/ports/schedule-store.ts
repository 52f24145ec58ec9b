import type {
  ScheduleDefinition,
  ScheduleError,
  ScheduleRecord,
  ScheduleRun,
} from '../../schemas/schedule.js';

/**
 * Schedule records: definitions and their history (on Redis: services/scheduler/schedule-store.ts). The
 * BullMQ side lives in `ScheduleQueue`.
 */
export interface ScheduleStore {
  /** Creates the tenant's schedule `definition.name`, or replaces it (keeping `createdAt` and `lastRun`). */
  put(tenant: string, definition: ScheduleDefinition): Promise<{ record: ScheduleRecord; created: boolean }>;
  get(tenant: string, name: string): Promise<ScheduleRecord | undefined>;
  /** One tenant's schedules by name, or (no tenant) every tenant's, by tenant then name. */
  list(options?: { tenant?: string }): Promise<ScheduleRecord[]>;
  /** Removes the record; false when there was none. */
  delete(tenant: string, name: string): Promise<boolean>;
  /** Records a run and clears `lastError`; a schedule deleted meanwhile stays deleted (false). */
  recordRun(tenant: string, name: string, run: ScheduleRun): Promise<boolean>;
  /** Records why a run failed; a schedule deleted meanwhile stays deleted (false). */
  recordError(tenant: string, name: string, error: ScheduleError): Promise<boolean>;
}
