import type { ScheduleRunEntry } from '../../schemas/schedule.js';

/**
 * The runs of each schedule, keyed by logical time (on Redis: services/scheduler/schedule-runs.ts, one
 * Lua script per write). Every write is idempotent by logical time, so any number of scheduler processes
 * and API calls may add and admit the same runs: one run per logical time, started once.
 */
export interface ScheduleRuns {
  /**
   * Adds the runs whose logical times the schedule has no run for yet (a `waiting` run joins the queue,
   * any other counts as active at once); returns the logical times added. Nothing is added to a
   * schedule that no longer exists.
   */
  add(tenant: string, name: string, runs: readonly ScheduleRunEntry[]): Promise<string[]>;
  /**
   * Atomically: drops `finished` (logical times whose jobs ended) from the active runs, then moves the
   * oldest waiting runs to `admitted` (active, its job still to be made) until `maxActive` are active,
   * and returns those it moved.
   */
  admit(
    tenant: string,
    name: string,
    options: { maxActive: number; finished: readonly string[]; now: Date },
  ): Promise<ScheduleRunEntry[]>;
  /** The active runs (admitted or submitted, not yet seen finished), oldest first. */
  active(tenant: string, name: string): Promise<ScheduleRunEntry[]>;
  /** How many runs wait. */
  waitingCount(tenant: string, name: string): Promise<number>;
  /**
   * Marks an admitted run `submitted` with its job (a missing job is then gone, not still to make); the id
   * differs from the derived one only for a job found under an older key.
   */
  markSubmitted(tenant: string, name: string, logicalTime: string, at: Date, jobId: string): Promise<void>;
  /** Marks a run refused (its job could not be made) and drops it from the active runs. */
  refuse(
    tenant: string,
    name: string,
    logicalTime: string,
    error: { code: string; message: string },
  ): Promise<void>;
  /** The run of `logicalTime`, if any. */
  get(tenant: string, name: string, logicalTime: string): Promise<ScheduleRunEntry | undefined>;
  /**
   * Runs newest first, `limit` at a time, each page strictly older than `before` (an instant in ms, the
   * previous page's cursor). `nextBefore` is null when nothing older is left.
   */
  page(
    tenant: string,
    name: string,
    options: { limit: number; before?: number },
  ): Promise<{ runs: ScheduleRunEntry[]; nextBefore: number | null }>;
  /** The newest run at or before `at` (the last logical time the schedule has a run for). */
  latestAtOrBefore(tenant: string, name: string, at: Date): Promise<ScheduleRunEntry | undefined>;
  /** Forgets every run of the schedule (it was deleted). */
  forget(tenant: string, name: string): Promise<void>;
}
