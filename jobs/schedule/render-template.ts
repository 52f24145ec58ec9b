import { type WallClock, dateOf, instantOfWallClock, shiftDate, wallClockAt } from './logical-time.js';

/** A problem found while rendering a template: the field path within the template and what is wrong. */
export interface TemplateProblem {
  path: string;
  message: string;
}

/**
 * Values of the placeholders for one run, at its logical time (the cron tick it stands for) or shifted
 * from it: `{date}` and its parts and `{hour}` in the schedule's time zone, `{datetime}` in UTC.
 */
export interface TemplateVars {
  /** The run's day in the schedule's time zone, `YYYY-MM-DD`. */
  date: string;
  yyyy: string;
  mm: string;
  dd: string;
  /** The run's hour in the schedule's time zone, `00`–`23`. */
  hour: string;
  /** The run's minute in the schedule's time zone, `00`–`59`. */
  minute: string;
  /** The run's time, ISO 8601 in UTC (`2026-11-27T23:30:00.000Z`). */
  datetime: string;
}

export const placeholderNames: readonly (keyof TemplateVars)[] = [
  'date',
  'yyyy',
  'mm',
  'dd',
  'hour',
  'minute',
  'datetime',
];

/**
 * Units of a placeholder's offset: `d` and `w` are calendar days and weeks in the zone (`{date-1d}` is
 * yesterday's date on a 23- or 25-hour day too); `h` and `m` are elapsed hours and minutes (`{hour-1h}` at
 * 03:00 on a spring-forward night is 01).
 */
const OFFSET_UNITS = { d: 'days', w: 'weeks', h: 'hours', m: 'minutes' } as const;
type OffsetUnit = keyof typeof OFFSET_UNITS;

/** A placeholder's offset: `{date-1d}` is `{ amount: -1, unit: 'd' }`. */
export interface TemplateOffset {
  amount: number;
  unit: OffsetUnit;
}

/**
 * `{name}` or `{name±N<unit>}` with a name that starts with a letter: regex quantifiers such as `\d{2}` or
 * `{1,3}` in a `columnsMatching` pattern are not placeholders and are left alone.
 */
const PLACEHOLDER = /\{([A-Za-z][A-Za-z0-9_]*)(?:([+-])(\d{1,6})([A-Za-z]*))?\}/g;

const pad = (n: number): string => String(n).padStart(2, '0');

function varsOf(wall: WallClock, at: Date): TemplateVars {
  const date = dateOf(wall);
  return {
    date,
    yyyy: date.slice(0, 4),
    mm: pad(wall.month),
    dd: pad(wall.day),
    hour: pad(wall.hour),
    minute: pad(wall.minute),
    datetime: at.toISOString(),
  };
}

/**
 * The placeholder values of a run at `at` (its logical time), read in `timeZone` (an IANA name), optionally
 * shifted by `offset`. Days and weeks move the calendar date (the time of day kept; a time a DST change
 * skips moves forward as a cron tick would), hours and minutes move the instant.
 */
export function templateVars(at: Date, timeZone: string, offset?: TemplateOffset): TemplateVars {
  if (offset === undefined || offset.amount === 0) return varsOf(wallClockAt(at, timeZone), at);
  if (offset.unit === 'h' || offset.unit === 'm') {
    const moved = new Date(at.getTime() + offset.amount * (offset.unit === 'h' ? 3_600_000 : 60_000));
    return varsOf(wallClockAt(moved, timeZone), moved);
  }
  const days = offset.amount * (offset.unit === 'w' ? 7 : 1);
  const wall = shiftDate(wallClockAt(at, timeZone), days);
  const moved = instantOfWallClock(wall, timeZone);
  // The date is the calendar's; hour and time are the instant's (a skipped 02:30 reads 03:30).
  return { ...varsOf(wallClockAt(moved, timeZone), moved), ...dateParts(wall) };
}

function dateParts(wall: WallClock): Pick<TemplateVars, 'date' | 'yyyy' | 'mm' | 'dd'> {
  const date = dateOf(wall);
  return { date, yyyy: date.slice(0, 4), mm: pad(wall.month), dd: pad(wall.day) };
}

function pathOf(parent: string, key: string | number): string {
  if (typeof key === 'number') return `${parent}[${key}]`;
  return parent === '' ? key : `${parent}.${key}`;
}

const knownList = placeholderNames.map((n) => `{${n}}`).join(', ');

/**
 * Replaces the placeholders in every string of `template` (object keys are left as they are), each
 * `{name}` or `{name±N<unit>}` rendered for the run at `at` in `timeZone`, and reports each unknown
 * placeholder or offset with its path (`input.uri`, `output.passthrough[0]`). The template is not changed;
 * the result is a new value.
 */
export function renderTemplate(
  template: unknown,
  at: Date,
  timeZone: string,
): { rendered: unknown; problems: TemplateProblem[] } {
  const problems: TemplateProblem[] = [];
  const shifted = new Map<string, TemplateVars>();
  const varsFor = (sign: string | undefined, amount: string | undefined, unit: string | undefined) => {
    const key = `${sign ?? ''}${amount ?? ''}${unit ?? ''}`;
    let vars = shifted.get(key);
    if (vars === undefined) {
      const offset =
        sign === undefined
          ? undefined
          : { amount: Number(amount) * (sign === '-' ? -1 : 1), unit: unit as OffsetUnit };
      vars = templateVars(at, timeZone, offset);
      shifted.set(key, vars);
    }
    return vars;
  };
  const render = (value: unknown, path: string): unknown => {
    if (typeof value === 'string') {
      return value.replace(
        PLACEHOLDER,
        (whole, name: string, sign?: string, amount?: string, unit?: string) => {
          const where = path === '' ? '(root)' : path;
          if (!(placeholderNames as readonly string[]).includes(name)) {
            problems.push({ path: where, message: `unknown placeholder ${whole}; known: ${knownList}` });
            return whole;
          }
          if (sign !== undefined && !Object.hasOwn(OFFSET_UNITS, unit ?? '')) {
            problems.push({
              path: where,
              message: `unknown offset in ${whole}: expected {${name}±N} with N followed by d (days), w (weeks), h (hours) or m (minutes), as in {${name}-1d}`,
            });
            return whole;
          }
          return varsFor(sign, amount, unit)[name as keyof TemplateVars];
        },
      );
    }
    if (Array.isArray(value)) return value.map((item, i) => render(item, pathOf(path, i)));
    if (value !== null && typeof value === 'object') {
      return Object.fromEntries(
        Object.entries(value as Record<string, unknown>).map(([key, item]) => [
          key,
          render(item, pathOf(path, key)),
        ]),
      );
    }
    return value;
  };
  return { rendered: render(template, ''), problems };
}
