import { tickIterator } from '../../schemas/cron-pattern.js';

/**
 * The cron ticks of a schedule, always walked forward (cron-parser's `next()`, as BullMQ's job schedulers
 * walk them): its `prev()` disagrees with `next()` across a spring-forward night (it skips the shifted
 * 02:30 that `next()` fires at 03:30), so backward walks here start earlier and go forward.
 */
export interface TickPattern {
  cron: string;
  timezone: string;
}

/**
 * The ticks strictly after `after` and at or before `until`, oldest first, stopping after `limit` of them.
 * `truncated` tells that more were left.
 */
export function ticksBetween(
  pattern: TickPattern,
  after: Date,
  until: Date,
  limit: number,
): { ticks: Date[]; truncated: boolean } {
  const next = tickIterator(pattern.cron, pattern.timezone, after);
  const ticks: Date[] = [];
  for (;;) {
    const tick = next();
    if (tick.getTime() > until.getTime()) return { ticks, truncated: false };
    if (ticks.length === limit) return { ticks, truncated: true };
    ticks.push(tick);
  }
}

/** The next `count` ticks strictly after `after`. */
export function nextTicks(pattern: TickPattern, after: Date, count: number): Date[] {
  const next = tickIterator(pattern.cron, pattern.timezone, after);
  return Array.from({ length: count }, () => next());
}

/**
 * The newest tick at or before `at`, looking back at most `lookBackMs` (undefined when there is none in
 * that span). Walks forward from the start of the span in growing steps, so a frequent pattern does not
 * enumerate the whole span.
 */
export function latestTickAtOrBefore(pattern: TickPattern, at: Date, lookBackMs: number): Date | undefined {
  return newestTicks(pattern, new Date(at.getTime() - lookBackMs), at, 1).ticks[0];
}

/**
 * The newest `count` ticks after `after` and at or before `until`, oldest first, and how many older ones
 * were left out. cron-parser takes milliseconds per tick, so the walk starts close to `until` and reaches
 * back in growing steps until it has `count` ticks or covers the whole span: a per-second pattern three
 * days back costs a few hundred ticks, not 259 200.
 */
export function newestTicks(
  pattern: TickPattern,
  after: Date,
  until: Date,
  count: number,
): { ticks: Date[]; dropped: number } {
  const whole = until.getTime() - after.getTime();
  if (whole <= 0) return { ticks: [], dropped: 0 };
  for (let span = Math.min(60_000, whole); ; span = Math.min(span * 8, whole)) {
    const from = new Date(until.getTime() - span);
    const { ticks } = ticksBetween(pattern, from, until, Number.MAX_SAFE_INTEGER);
    if (ticks.length >= count || span === whole) {
      const kept = ticks.slice(-count);
      // Whether older ticks were left out is all callers need; their exact number is not worth a walk.
      const dropped = span === whole ? ticks.length - kept.length : 1;
      return { ticks: kept, dropped };
    }
  }
}

/** What a schedule does about ticks that fell due while no scheduler ran (or while it was paused). */
export type CatchUpPolicy = 'none' | 'latest' | 'all';

/**
 * How late a tick may be delivered and still count as on time rather than missed: BullMQ delivers a tick a
 * little late under load, and leaves out the ones it fell behind on; those are run, not caught up.
 */
export const ON_TIME_MS = 60_000;

/**
 * At most this many missed ticks are caught up at once under `all` (the newest ones), as for a backfill;
 * on-time ticks are bounded by the same number.
 */
export const MAX_CATCH_UP_RUNS = 366;

export interface DueTicksInput extends TickPattern {
  catchUp: CatchUpPolicy;
  catchUpWindowMs: number;
  /** The newest logical time the schedule already has a run for (any source); undefined when none. */
  lastLogicalAt: Date | undefined;
  /** When the schedule was created: ticks before it were never due. */
  createdAt: Date;
  now: Date;
}

/**
 * The ticks a schedule should have runs for now, oldest first: every tick since its last run (and since it
 * was created) that is at most {@link ON_TIME_MS} old, plus the missed ones older than that inside the
 * catch-up window, as the policy says: `none` none of them, `latest` the newest tick only when no on-time
 * one is due, `all` every one (the newest {@link MAX_CATCH_UP_RUNS}). Pure: the same answer for every
 * scheduler process, and runs are keyed by logical time, so asking twice adds nothing.
 */
export function dueTicks(input: DueTicksInput): {
  onTime: Date[];
  missed: Date[];
  /** More than zero when older missed ticks were left out (`all` beyond its bound, or `latest`). */
  droppedMissed: number;
} {
  const { now } = input;
  const floor = Math.max(
    input.lastLogicalAt?.getTime() ?? -Infinity,
    input.createdAt.getTime() - 1,
    now.getTime() - input.catchUpWindowMs,
  );
  const onTimeFrom = Math.max(floor, now.getTime() - ON_TIME_MS);
  const onTime = newestTicks(input, new Date(onTimeFrom), now, MAX_CATCH_UP_RUNS).ticks;
  if (input.catchUp === 'none' || floor >= onTimeFrom) return { onTime, missed: [], droppedMissed: 0 };
  if (input.catchUp === 'latest' && onTime.length > 0) return { onTime, missed: [], droppedMissed: 0 };
  const wanted = input.catchUp === 'latest' ? 1 : MAX_CATCH_UP_RUNS;
  const { ticks, dropped } = newestTicks(input, new Date(floor), new Date(onTimeFrom), wanted);
  return { onTime, missed: ticks, droppedMissed: dropped };
}

/** Ticks a backfill may cover at most. */
export const MAX_BACKFILL_TICKS = 366;
