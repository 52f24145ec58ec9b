/**
 * Wall-clock arithmetic in a schedule's IANA time zone with nothing but `Intl`: a run's logical time (the
 * cron tick it stands for) as the zone reads it, calendar days added across DST changes, local times read
 * back to instants. No date library: `Intl.DateTimeFormat` carries the zone database.
 */

/** A wall-clock reading in some zone; months 1–12. */
export interface WallClock {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterOf(timeZone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timeZone);
  if (formatter === undefined) {
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timeZone, formatter);
  }
  return formatter;
}

/** What the clocks in `timeZone` read at `at`. */
export function wallClockAt(at: Date, timeZone: string): WallClock {
  const parts = formatterOf(timeZone).formatToParts(at);
  const part = (type: Intl.DateTimeFormatPartTypes): number =>
    Number(parts.find((p) => p.type === type)?.value ?? NaN);
  return {
    year: part('year'),
    month: part('month'),
    day: part('day'),
    hour: part('hour'),
    minute: part('minute'),
    second: part('second'),
  };
}

const wallMs = (w: WallClock): number => Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second);

/** The zone's offset from UTC at `at`, in milliseconds (Berlin in summer: +7 200 000). */
export function zoneOffsetMs(at: Date, timeZone: string): number {
  const whole = Math.floor(at.getTime() / 1000) * 1000;
  return wallMs(wallClockAt(new Date(whole), timeZone)) - whole;
}

/**
 * The instant the clocks in `timeZone` read `wall`. A reading that happens twice (the repeated hour of a
 * fall-back night) is its first occurrence; one that never happens (the skipped hour of a spring-forward
 * night) moves forward by the gap, as cron-parser moves a tick (02:30 → 03:30 in Europe/Berlin).
 */
export function instantOfWallClock(wall: WallClock, timeZone: string): Date {
  const ms = wallMs(wall);
  const day = 24 * 3600 * 1000;
  const before = ms - zoneOffsetMs(new Date(ms - day), timeZone);
  const after = ms - zoneOffsetMs(new Date(ms + day), timeZone);
  const reads = (t: number) => wallMs(wallClockAt(new Date(t), timeZone)) === ms;
  const valid = [before, after].filter(reads);
  if (valid.length > 0) return new Date(Math.min(...valid));
  return new Date(before);
}

/** `wall`'s calendar date moved by `days` (time of day kept); pure calendar arithmetic, no zone involved. */
export function shiftDate(wall: WallClock, days: number): WallClock {
  const moved = new Date(Date.UTC(wall.year, wall.month - 1, wall.day + days));
  return { ...wall, year: moved.getUTCFullYear(), month: moved.getUTCMonth() + 1, day: moved.getUTCDate() };
}

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

/** `YYYY-MM-DD` of a wall-clock reading. */
export const dateOf = (w: WallClock): string => `${pad(w.year, 4)}-${pad(w.month)}-${pad(w.day)}`;

/**
 * A run's logical time as written in keys, history and logs: the wall clock in the schedule's zone with its
 * offset, to the minute (`2026-03-29T03:30+02:00`), with seconds when they are not zero
 * (`2026-03-29T03:30:05+02:00`). The offset makes the two 02:30s of a fall-back night two logical times.
 */
export function formatLogicalTime(at: Date, timeZone: string): string {
  const wall = wallClockAt(at, timeZone);
  const offset = Math.round(zoneOffsetMs(at, timeZone) / 60_000);
  const sign = offset < 0 ? '-' : '+';
  const abs = Math.abs(offset);
  const seconds = wall.second === 0 ? '' : `:${pad(wall.second)}`;
  return `${dateOf(wall)}T${pad(wall.hour)}:${pad(wall.minute)}${seconds}${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const LOCAL_TIME = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2}))?$/;
const ZONED_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})$/;

/** A span of instants, both ends included. */
export interface TimeSpan {
  start: Date;
  end: Date;
}

/**
 * Reads what users write for a backfill's ends or a run's `--at` in the schedule's zone: a date
 * (`2026-11-20`: that whole day in the zone, midnight to the last millisecond before the next midnight), a
 * local time (`2026-11-20T02:30`, in the zone) or a time with its offset (`2026-11-20T01:30Z`). Undefined
 * when it is none of them (or no such calendar day).
 */
export function readTimeInZone(text: string, timeZone: string): TimeSpan | undefined {
  const date = DATE.exec(text);
  if (date) {
    const wall: WallClock = {
      year: Number(date[1]),
      month: Number(date[2]),
      day: Number(date[3]),
      hour: 0,
      minute: 0,
      second: 0,
    };
    if (dateOf(shiftDate(wall, 0)) !== text) return undefined;
    const start = instantOfWallClock(wall, timeZone);
    const next = instantOfWallClock(shiftDate(wall, 1), timeZone);
    return { start, end: new Date(next.getTime() - 1) };
  }
  const local = LOCAL_TIME.exec(text);
  if (local) {
    const wall: WallClock = {
      year: Number(local[1]),
      month: Number(local[2]),
      day: Number(local[3]),
      hour: Number(local[4]),
      minute: Number(local[5]),
      second: Number(local[6] ?? 0),
    };
    if (dateOf(shiftDate(wall, 0)) !== dateOf(wall) || wall.hour > 23 || wall.minute > 59 || wall.second > 59)
      return undefined;
    const at = instantOfWallClock(wall, timeZone);
    return { start: at, end: at };
  }
  if (ZONED_TIME.test(text)) {
    const at = new Date(text);
    if (Number.isNaN(at.getTime())) return undefined;
    return { start: at, end: at };
  }
  return undefined;
}
