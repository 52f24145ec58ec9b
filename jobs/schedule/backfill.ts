import { ScheduleInvalid, type ScheduleProblem } from '../../schemas/errors/schedule-invalid.js';
import type { ScheduleRecord, ScheduleRunEntry } from '../../schemas/schedule.js';
import { readTimeInZone } from './logical-time.js';
import { type AdvanceResult, type RunScheduleDeps, advanceSchedule, runEntryOf } from './run-schedule.js';
import {
  MAX_BACKFILL_TICKS,
  type TickPattern,
  latestTickAtOrBefore,
  ticksBetween,
} from './schedule-ticks.js';

const READABLE =
  'expected a date (2026-11-20) or a time (2026-11-20T02:30 in the schedule’s zone, or with Z or an offset)';

/**
 * The ticks of a backfill from `from` to `to` (dates: whole days in the schedule's zone; or times), both
 * included, oldest first, none after `now`. Throws `ScheduleInvalid` at `from`/`to` for an unreadable end,
 * a reversed or future range, a range without ticks, or one of more than {@link MAX_BACKFILL_TICKS}.
 */
export function backfillTicks(pattern: TickPattern, from: string, to: string, now: Date): Date[] {
  const start = readTimeInZone(from, pattern.timezone);
  const end = readTimeInZone(to, pattern.timezone);
  const problems: ScheduleProblem[] = [];
  if (start === undefined) problems.push({ path: 'from', message: READABLE });
  if (end === undefined) problems.push({ path: 'to', message: READABLE });
  if (start === undefined || end === undefined) throw new ScheduleInvalid(problems);
  if (end.end.getTime() < start.start.getTime())
    throw new ScheduleInvalid([{ path: 'to', message: `the range is reversed: ${to} is before ${from}` }]);
  if (start.start.getTime() > now.getTime())
    throw new ScheduleInvalid([
      { path: 'from', message: `${from} is in the future: only past ticks are backfilled` },
    ]);
  const until = new Date(Math.min(end.end.getTime(), now.getTime()));
  const { ticks, truncated } = ticksBetween(
    pattern,
    new Date(start.start.getTime() - 1),
    until,
    MAX_BACKFILL_TICKS,
  );
  if (truncated)
    throw new ScheduleInvalid([
      { path: 'to', message: `the range holds more than ${MAX_BACKFILL_TICKS} ticks; backfill it in parts` },
    ]);
  if (ticks.length === 0)
    throw new ScheduleInvalid([{ path: 'to', message: `the schedule has no tick from ${from} to ${to}` }]);
  return ticks;
}

/**
 * The tick a run-now call stands for: the newest at or before `at` (a date: its last tick that day; a
 * time: the newest tick at or before it), or before `now` without `at`. Throws `ScheduleInvalid` at `at`
 * for an unreadable or future time, or one without a tick in the year before it. Without `at` and without
 * a tick in the last year, `now` itself.
 */
export function runNowTick(pattern: TickPattern, at: string | undefined, now: Date): Date {
  const year = 366 * 24 * 3600 * 1000;
  if (at === undefined) return latestTickAtOrBefore(pattern, now, year) ?? now;
  const span = readTimeInZone(at, pattern.timezone);
  if (span === undefined) throw new ScheduleInvalid([{ path: 'at', message: READABLE }]);
  if (span.start.getTime() > now.getTime())
    throw new ScheduleInvalid([{ path: 'at', message: `${at} is in the future` }]);
  const end = new Date(Math.min(span.end.getTime(), now.getTime()));
  const wholeDay = span.start.getTime() !== span.end.getTime();
  const tick = latestTickAtOrBefore(pattern, end, wholeDay ? end.getTime() - span.start.getTime() : year);
  if (tick === undefined)
    throw new ScheduleInvalid([{ path: 'at', message: `the schedule has no tick at or before ${at}` }]);
  return tick;
}

export interface BackfillResult extends AdvanceResult {
  /** Every run of the range, oldest first, as stored now. */
  runs: ScheduleRunEntry[];
  /** Logical times this call added (none when the same backfill ran before). */
  added: string[];
}

/**
 * Adds one waiting run per tick (oldest first; ticks that already have a run keep it), then advances the
 * schedule, so the runs start as `maxActiveRuns` allows: asking again adds nothing and returns the same runs.
 */
export async function backfillSchedule(
  deps: RunScheduleDeps,
  schedule: ScheduleRecord,
  ticks: readonly Date[],
): Promise<BackfillResult> {
  const now = deps.now();
  const entries = ticks.map((at) => runEntryOf(schedule, at, 'backfill', 'waiting', now));
  const added = await deps.runs.add(schedule.tenant, schedule.name, entries);
  const advanced = await advanceSchedule(deps, schedule);
  const runs = await Promise.all(
    entries.map(async (e) => (await deps.runs.get(schedule.tenant, schedule.name, e.logicalTime)) ?? e),
  );
  return { ...advanced, runs, added };
}
