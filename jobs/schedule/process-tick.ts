import type { Log } from '../ports/log.js';
import type { ScheduleStore } from '../ports/schedule-store.js';
import { type RunScheduleDeps, type ScheduleRunResult, runSchedule } from './run-schedule.js';

/** What a tick names: the schedule that is due. */
export interface Tick {
  tenant: string;
  name: string;
}

export interface TickDeps extends RunScheduleDeps {
  schedules: RunScheduleDeps['schedules'] & Pick<ScheduleStore, 'get'>;
  /** Removes the job scheduler of a schedule that is gone or disabled, so it stops ticking. */
  removeScheduler(tenant: string, name: string): Promise<unknown>;
  log: Log;
}

export type TickOutcome =
  | ({ outcome: 'submitted' | 'existing' } & ScheduleRunResult)
  | { outcome: 'skipped'; reason: 'schedule deleted' | 'schedule disabled' };

/**
 * Processes one tick of a schedule due at `dueAt`: submits the job of that day, or finds it already
 * submitted (a tick delivered twice, another scheduler process, a run-now call). A tick for a schedule
 * deleted or disabled meanwhile removes the stale job scheduler and does nothing else. A template that
 * no longer renders to a valid spec throws `ScheduleInvalid`, after recording it on the schedule.
 */
export async function processTick(deps: TickDeps, tick: Tick, dueAt: Date): Promise<TickOutcome> {
  const log = deps.log.child({ tenant: tick.tenant, schedule: tick.name, dueAt: dueAt.toISOString() });
  const schedule = await deps.schedules.get(tick.tenant, tick.name);
  if (schedule === undefined || !schedule.enabled) {
    const reason = schedule === undefined ? 'schedule deleted' : 'schedule disabled';
    await deps.removeScheduler(tick.tenant, tick.name);
    log.info({ reason }, 'tick skipped');
    return { outcome: 'skipped', reason };
  }
  const run = await runSchedule(deps, schedule, dueAt);
  const outcome = run.created ? 'submitted' : 'existing';
  log.info(
    { date: run.date, jobId: run.record.id },
    run.created ? 'job submitted' : "the day's job already exists",
  );
  return { outcome, ...run };
}
