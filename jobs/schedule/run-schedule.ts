import type { JobRecord } from '../../schemas/job-record.js';
import type { ScheduleRecord } from '../../schemas/schedule.js';
import { ScheduleInvalid } from '../../schemas/errors/schedule-invalid.js';
import { IdempotencyConflict } from '../ports/errors/idempotency-conflict.js';
import type { ScheduleStore } from '../ports/schedule-store.js';
import { submitJob } from '../submit-job.js';
import { renderScheduledSpec } from './parse-schedule.js';
import { templateVars } from './render-template.js';

/**
 * The idempotency key of a schedule's run on `date` (its day in the schedule's time zone). Every run of
 * one schedule on one day submits under this key, so ticks delivered twice, several scheduler processes
 * and run-now calls make one job per day.
 */
export function scheduleIdempotencyKey(name: string, date: string): string {
  return `${SCHEDULE_KEY_PREFIX}${name}:${date}`;
}

/** Idempotency keys under this prefix belong to schedules; the API refuses them from clients. */
export const SCHEDULE_KEY_PREFIX = 'schedule:';

/** What submitting a job takes: the job store and the plan queue. */
type SubmitDeps = Parameters<typeof submitJob>[0];

export interface RunScheduleDeps extends SubmitDeps {
  schedules: Pick<ScheduleStore, 'recordRun' | 'recordError'>;
}

export interface ScheduleRunResult {
  /** The day's job: the one just submitted, or the one an earlier run of the day submitted. */
  record: JobRecord;
  /** False when the day already had its job. */
  created: boolean;
  /** The run's day in the schedule's time zone. */
  date: string;
}

/**
 * Runs `schedule` for a run due at `at`: renders its job template for that day, submits the job under
 * the day's idempotency key and records the run. The day's first job stands: a later run of the same day
 * returns it, even when the template (or `{datetime}`) renders differently now. A template that no longer
 * renders to a valid job spec is recorded as `lastError` and thrown (`ScheduleInvalid`).
 */
export async function runSchedule(
  deps: RunScheduleDeps,
  schedule: ScheduleRecord,
  at: Date,
): Promise<ScheduleRunResult> {
  const { tenant, name } = schedule;
  const { date } = templateVars(at, schedule.timezone);
  let spec;
  try {
    spec = renderScheduledSpec(schedule.job, at, schedule.timezone);
  } catch (error) {
    if (error instanceof ScheduleInvalid) {
      await deps.schedules.recordError(tenant, name, {
        at: at.toISOString(),
        code: error.code,
        message: `the job template no longer renders to a valid job spec (${error.problems.length} problem${error.problems.length === 1 ? '' : 's'})`,
        problems: [...error.problems],
      });
    }
    throw error;
  }
  const idempotencyKey = scheduleIdempotencyKey(name, date);
  let result: { record: JobRecord; created: boolean };
  try {
    result = await submitJob(deps, spec, { tenant, idempotencyKey });
  } catch (error) {
    const existing =
      error instanceof IdempotencyConflict ? await deps.store.get(error.existingJobId) : undefined;
    if (existing === undefined) throw error;
    result = { record: existing, created: false };
  }
  await deps.schedules.recordRun(tenant, name, { at: at.toISOString(), date, jobId: result.record.id });
  return { ...result, date };
}
