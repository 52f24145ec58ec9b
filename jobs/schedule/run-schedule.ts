import type { JobRecord } from '../../schemas/job-record.js';
import type { ScheduleRecord, ScheduleRunEntry, ScheduleRunSource } from '../../schemas/schedule.js';
import { isPermanent } from '../../schemas/errors/quiver-error.js';
import { ScheduleInvalid, type ScheduleProblem } from '../../schemas/errors/schedule-invalid.js';
import { isTerminal } from '../job-state.js';
import type { Clock } from '../ports/clock.js';
import { IdempotencyConflict } from '../ports/errors/idempotency-conflict.js';
import type { ScheduleRuns } from '../ports/schedule-runs.js';
import type { ScheduleStore } from '../ports/schedule-store.js';
import { idempotentJobId, submitJob } from '../submit-job.js';
import { dateOf, formatLogicalTime, instantOfWallClock, wallClockAt } from './logical-time.js';
import { renderScheduledSpec } from './parse-schedule.js';
import { nextTicks } from './schedule-ticks.js';

/**
 * The idempotency key of a schedule's run: `schedule:<name>:<logical time>` (`2026-03-29T03:30+02:00`), so
 * ticks delivered twice, several scheduler processes, catch-up, backfills and run-now calls make one job
 * per tick. Before logical times the stamp was the run's day (`schedule:<name>:2026-03-29`): see
 * {@link legacyJobOf}.
 */
export function scheduleIdempotencyKey(name: string, stamp: string): string {
  return `${SCHEDULE_KEY_PREFIX}${name}:${stamp}`;
}

/** Idempotency keys under this prefix belong to schedules; the API refuses them from clients. */
export const SCHEDULE_KEY_PREFIX = 'schedule:';

/** What submitting a job takes: the job store and the plan queue. */
type SubmitDeps = Parameters<typeof submitJob>[0];

export interface RunScheduleDeps extends SubmitDeps {
  schedules: Pick<ScheduleStore, 'recordRun' | 'recordError'>;
  runs: ScheduleRuns;
  now: Clock;
}

export interface ScheduleRunResult {
  /** The run's job: the one just submitted, or the one an earlier call for the same tick submitted. */
  record: JobRecord;
  /** False when the tick already had its job. */
  created: boolean;
  /** The run's day in the schedule's time zone. */
  date: string;
  logicalTime: string;
}

/** A new run entry of `schedule` for the tick at `at`. */
export function runEntryOf(
  schedule: Pick<ScheduleRecord, 'tenant' | 'name' | 'timezone'>,
  at: Date,
  source: ScheduleRunSource,
  state: ScheduleRunEntry['state'],
  now: Date,
): ScheduleRunEntry {
  const logicalTime = formatLogicalTime(at, schedule.timezone);
  return {
    logicalTime,
    at: at.toISOString(),
    jobId: idempotentJobId(schedule.tenant, scheduleIdempotencyKey(schedule.name, logicalTime)),
    source,
    state,
    queuedAt: now.toISOString(),
  };
}

/**
 * The job a daily run submitted under the day key of earlier versions, when `at` is its day's first tick:
 * right after an upgrade the tick of a day that already ran finds that job instead of making a second one.
 */
async function legacyJobOf(
  deps: Pick<RunScheduleDeps, 'store'>,
  schedule: ScheduleRecord,
  at: Date,
): Promise<JobRecord | undefined> {
  const wall = wallClockAt(at, schedule.timezone);
  const midnight = instantOfWallClock({ ...wall, hour: 0, minute: 0, second: 0 }, schedule.timezone);
  let first: Date | undefined;
  try {
    first = nextTicks(schedule, new Date(midnight.getTime() - 1), 1)[0];
  } catch {
    return undefined;
  }
  if (first?.getTime() !== at.getTime()) return undefined;
  const key = scheduleIdempotencyKey(schedule.name, dateOf(wall));
  const found = await deps.store.get(idempotentJobId(schedule.tenant, key));
  return found?.idempotencyKey === key && found.tenant === schedule.tenant ? found : undefined;
}

/** The problems of a refusal, under `job.` as a schedule's. */
function problemsOfRefusal(error: unknown): ScheduleProblem[] | undefined {
  if (error instanceof ScheduleInvalid) return [...error.problems];
  const field = (error as { location?: { field?: string } }).location?.field;
  return field === undefined ? undefined : [{ path: `job.${field}`, message: (error as Error).message }];
}

/** Whether `error` refuses the run for good: its template, or the tenant's grants. Retrying cannot help. */
export const isRefusal = (error: unknown): boolean => error instanceof ScheduleInvalid || isPermanent(error);

/**
 * Makes the job of an admitted run: renders the template for its logical time, submits it under the run's
 * idempotency key and records it (the run `submitted`, the schedule's `lastRun`). The tick's first job
 * stands: a later call returns it, even when the template renders differently now. A refusal (a template
 * that no longer renders to a valid spec, a URI outside the tenant's grants) is recorded on the run and as
 * the schedule's `lastError`, and thrown.
 */
export async function submitRun(
  deps: RunScheduleDeps,
  schedule: ScheduleRecord,
  entry: ScheduleRunEntry,
): Promise<ScheduleRunResult> {
  const { tenant, name } = schedule;
  const at = new Date(entry.at);
  const date = dateOf(wallClockAt(at, schedule.timezone));
  let result: { record: JobRecord; created: boolean };
  try {
    const legacy = await legacyJobOf(deps, schedule, at);
    if (legacy !== undefined) {
      result = { record: legacy, created: false };
    } else {
      const spec = renderScheduledSpec(schedule.job, at, schedule.timezone);
      const idempotencyKey = scheduleIdempotencyKey(name, entry.logicalTime);
      try {
        result = await submitJob(deps, spec, { tenant, idempotencyKey });
      } catch (error) {
        const existing =
          error instanceof IdempotencyConflict ? await deps.store.get(error.existingJobId) : undefined;
        if (existing === undefined) throw error;
        result = { record: existing, created: false };
      }
    }
  } catch (error) {
    if (isRefusal(error)) {
      const code = (error as { code?: string }).code ?? 'REFUSED';
      const problems = problemsOfRefusal(error);
      const message =
        error instanceof ScheduleInvalid
          ? `the job template no longer renders to a valid job spec (${error.problems.length} problem${error.problems.length === 1 ? '' : 's'})`
          : (error as Error).message;
      await deps.runs.refuse(tenant, name, entry.logicalTime, { code, message });
      await deps.schedules.recordError(tenant, name, {
        at: entry.at,
        code,
        message,
        ...(problems === undefined ? {} : { problems }),
      });
    }
    throw error;
  }
  await deps.runs.markSubmitted(tenant, name, entry.logicalTime, deps.now(), result.record.id);
  await deps.schedules.recordRun(tenant, name, {
    at: entry.at,
    date,
    logicalTime: entry.logicalTime,
    jobId: result.record.id,
  });
  return { ...result, date, logicalTime: entry.logicalTime };
}

export interface AdvanceResult {
  /** Runs whose jobs this call made or found. */
  submitted: Array<ScheduleRunResult & { entry: ScheduleRunEntry }>;
  /** Runs refused for good (recorded). */
  refused: Array<{ entry: ScheduleRunEntry; error: unknown }>;
}

/**
 * Moves a schedule's runs along, safe to call from any process at any time (every tick, at start, on a
 * timer, after a backfill): drops the active runs whose jobs ended, remakes the job of any admitted run
 * whose job is missing (a process died between admitting it and submitting), admits the oldest waiting
 * runs up to `maxActiveRuns` (none while paused) and submits their jobs. A waiting run is never lost: it
 * stays in Redis until admitted, and an admitted one until its job exists.
 */
export async function advanceSchedule(
  deps: RunScheduleDeps,
  schedule: ScheduleRecord,
): Promise<AdvanceResult> {
  const { tenant, name } = schedule;
  const result: AdvanceResult = { submitted: [], refused: [] };
  const finished: string[] = [];
  const retry: ScheduleRunEntry[] = [];
  for (const entry of await deps.runs.active(tenant, name)) {
    const job = await deps.store.get(entry.jobId);
    if (job === undefined) {
      // Never made (the process died after admitting it): make it. Made and gone (retention): finished.
      if (entry.state === 'admitted') retry.push(entry);
      else finished.push(entry.logicalTime);
    } else if (isTerminal(job.status)) finished.push(entry.logicalTime);
  }
  const admitted = await deps.runs.admit(tenant, name, {
    maxActive: schedule.paused ? 0 : schedule.maxActiveRuns,
    finished,
    now: deps.now(),
  });
  for (const entry of [...retry, ...admitted]) {
    try {
      result.submitted.push({ ...(await submitRun(deps, schedule, entry)), entry });
    } catch (error) {
      if (!isRefusal(error)) throw error;
      result.refused.push({ entry, error });
    }
  }
  return result;
}

/**
 * Runs `schedule`'s tick at `at` now, whatever `maxActiveRuns` says (an operator's explicit call; the run
 * counts as active for later ticks): returns the tick's job, made now or earlier.
 */
export async function runSchedule(
  deps: RunScheduleDeps,
  schedule: ScheduleRecord,
  at: Date,
): Promise<ScheduleRunResult> {
  const entry = runEntryOf(schedule, at, 'run', 'admitted', deps.now());
  await deps.runs.add(schedule.tenant, schedule.name, [entry]);
  const stored = await deps.runs.get(schedule.tenant, schedule.name, entry.logicalTime);
  return submitRun(deps, schedule, stored?.state === 'waiting' || stored === undefined ? entry : stored);
}
