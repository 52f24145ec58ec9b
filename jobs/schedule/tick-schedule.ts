import { isoDurationMs } from '../../schemas/iso-duration.js';
import type { ScheduleRecord } from '../../schemas/schedule.js';
import type { Log } from '../ports/log.js';
import { type AdvanceResult, type RunScheduleDeps, advanceSchedule, runEntryOf } from './run-schedule.js';
import { dueTicks } from './schedule-ticks.js';

const THREE_DAYS_MS = 3 * 24 * 3600 * 1000;

export interface TickScheduleResult extends AdvanceResult {
  /** Logical times of the runs this call added (on-time ticks and caught-up ones). */
  added: string[];
  /** Missed ticks left out because `all` catches up at most the newest 366. */
  droppedMissed: number;
  /** Runs still waiting for a free slot (`maxActiveRuns`). */
  waiting: number;
}

/**
 * Brings a schedule up to `now`: adds a run for every tick due since its last run (on-time ticks, and
 * missed ones per its `catchUp` policy inside `catchUpWindow`), then advances its runs. What every tick,
 * every scheduler start, every resume and the scheduler's periodic sweep do; idempotent by logical time,
 * so they may all run at once in any number of processes.
 */
export async function tickSchedule(
  deps: RunScheduleDeps & { log?: Log },
  schedule: ScheduleRecord,
  now: Date = deps.now(),
): Promise<TickScheduleResult> {
  const { tenant, name } = schedule;
  let added: string[] = [];
  let droppedMissed = 0;
  if (!schedule.paused) {
    const latest = await deps.runs.latestAtOrBefore(tenant, name, now);
    const last = latest?.at ?? schedule.lastRun?.at;
    const due = dueTicks({
      cron: schedule.cron,
      timezone: schedule.timezone,
      catchUp: schedule.catchUp,
      catchUpWindowMs: isoDurationMs(schedule.catchUpWindow) ?? THREE_DAYS_MS,
      lastLogicalAt: last === undefined ? undefined : new Date(last),
      createdAt: new Date(schedule.createdAt),
      now,
    });
    droppedMissed = due.droppedMissed;
    const queuedAt = deps.now();
    const entries = [
      ...due.missed.map((at) => runEntryOf(schedule, at, 'catch-up', 'waiting', queuedAt)),
      ...due.onTime.map((at) => runEntryOf(schedule, at, 'tick', 'waiting', queuedAt)),
    ];
    if (entries.length > 0) added = await deps.runs.add(tenant, name, entries);
    if (due.missed.length > 0)
      deps.log?.info(
        { tenant, schedule: name, catchUp: schedule.catchUp, missed: due.missed.length, droppedMissed },
        'missed ticks caught up',
      );
  }
  const advanced = await advanceSchedule(deps, schedule);
  for (const run of advanced.submitted) {
    deps.log?.info(
      {
        tenant,
        schedule: name,
        date: run.date,
        logicalTime: run.logicalTime,
        source: run.entry.source,
        jobId: run.record.id,
      },
      run.created ? 'job submitted' : "the run's job already exists",
    );
  }
  for (const { entry, error } of advanced.refused) {
    deps.log?.error(
      { tenant, schedule: name, logicalTime: entry.logicalTime, code: (error as { code?: string }).code },
      'run refused: its job template no longer renders to a job the tenant may run',
    );
  }
  const waiting = await deps.runs.waitingCount(tenant, name);
  return { ...advanced, added, droppedMissed, waiting };
}
