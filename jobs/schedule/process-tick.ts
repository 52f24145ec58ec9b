import type { Log } from '../ports/log.js';
import type { ScheduleStore } from '../ports/schedule-store.js';
import type { RunScheduleDeps } from './run-schedule.js';
import { formatLogicalTime } from './logical-time.js';
import { type TickScheduleResult, tickSchedule } from './tick-schedule.js';

/** What a tick names: the schedule that is due. */
export interface Tick {
  tenant: string;
  name: string;
}

export interface TickDeps extends RunScheduleDeps {
  schedules: RunScheduleDeps['schedules'] & Pick<ScheduleStore, 'get'>;
  /** Removes the job scheduler of a schedule that is gone or paused, so it stops ticking. */
  removeScheduler(tenant: string, name: string): Promise<unknown>;
  log: Log;
}

export type TickOutcome =
  | ({ outcome: 'ran'; logicalTime: string } & TickScheduleResult)
  | { outcome: 'skipped'; reason: 'schedule deleted' | 'schedule paused' };

/**
 * Processes one tick of a schedule due at `dueAt`: adds the runs due by now (this tick, ticks BullMQ left
 * out, missed ones per the schedule's catch-up policy) and advances the schedule's runs, submitting the
 * jobs `maxActiveRuns` lets start; the others wait. A tick delivered twice, another scheduler process or a
 * run-now call all find the tick's run already there. A tick for a schedule deleted or paused meanwhile
 * removes the stale job scheduler and does nothing else. When this tick's own run is refused (its template
 * no longer renders to a valid spec, or reaches outside the tenant's grants), that error is thrown after
 * being recorded on the schedule.
 */
export async function processTick(deps: TickDeps, tick: Tick, dueAt: Date): Promise<TickOutcome> {
  const log = deps.log.child({ tenant: tick.tenant, schedule: tick.name, dueAt: dueAt.toISOString() });
  const schedule = await deps.schedules.get(tick.tenant, tick.name);
  if (schedule === undefined || schedule.paused) {
    const reason = schedule === undefined ? 'schedule deleted' : 'schedule paused';
    await deps.removeScheduler(tick.tenant, tick.name);
    log.info({ reason }, 'tick skipped');
    return { outcome: 'skipped', reason };
  }
  // The tick itself says its time has come, whatever this process's clock reads.
  const clock = deps.now();
  const now = clock.getTime() < dueAt.getTime() ? dueAt : clock;
  const result = await tickSchedule(deps, schedule, now);
  const logicalTime = formatLogicalTime(dueAt, schedule.timezone);
  const own = result.refused.find((r) => r.entry.logicalTime === logicalTime);
  if (own !== undefined) throw own.error;
  if (result.waiting > 0)
    log.info({ waiting: result.waiting }, 'runs waiting for a free slot (maxActiveRuns)');
  return { outcome: 'ran', logicalTime, ...result };
}
