/** A problem found while rendering a template: the field path within the template and what is wrong. */
export interface TemplateProblem {
  path: string;
  message: string;
}

/** Values of the placeholders for one run: `{date}` and its parts in the schedule's time zone, `{datetime}`. */
export interface TemplateVars {
  /** The run's day in the schedule's time zone, `YYYY-MM-DD`. */
  date: string;
  yyyy: string;
  mm: string;
  dd: string;
  /** The run's time, ISO 8601 in UTC (`2026-11-27T23:30:00.000Z`). */
  datetime: string;
}

export const placeholderNames: readonly (keyof TemplateVars)[] = ['date', 'yyyy', 'mm', 'dd', 'datetime'];

/**
 * `{name}` with a name that starts with a letter: regex quantifiers such as `\d{2}` or `{1,3}` in a
 * `columnsMatching` pattern are not placeholders and are left alone.
 */
const PLACEHOLDER = /\{([A-Za-z][A-Za-z0-9_]*)\}/g;

/** The placeholder values of a run at `at`, its day taken in `timeZone` (an IANA name). */
export function templateVars(at: Date, timeZone: string): TemplateVars {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
  }).formatToParts(at);
  const part = (type: Intl.DateTimeFormatPartTypes): string =>
    parts.find((p) => p.type === type)?.value ?? '';
  const yyyy = part('year').padStart(4, '0');
  const mm = part('month');
  const dd = part('day');
  return { date: `${yyyy}-${mm}-${dd}`, yyyy, mm, dd, datetime: at.toISOString() };
}

function pathOf(parent: string, key: string | number): string {
  if (typeof key === 'number') return `${parent}[${key}]`;
  return parent === '' ? key : `${parent}.${key}`;
}

/**
 * Replaces the placeholders in every string of `template` (object keys are left as they are) and reports
 * each unknown placeholder with its path (`input.uri`, `output.passthrough[0]`). The template is not
 * changed; the result is a new value.
 */
export function renderTemplate(
  template: unknown,
  vars: TemplateVars,
): { rendered: unknown; problems: TemplateProblem[] } {
  const problems: TemplateProblem[] = [];
  const known = new Map<string, string>(placeholderNames.map((name) => [name, vars[name]]));
  const render = (value: unknown, path: string): unknown => {
    if (typeof value === 'string') {
      return value.replace(PLACEHOLDER, (whole, name: string) => {
        const replacement = known.get(name);
        if (replacement !== undefined) return replacement;
        problems.push({
          path: path === '' ? '(root)' : path,
          message: `unknown placeholder ${whole}; known: ${placeholderNames.map((n) => `{${n}}`).join(', ')}`,
        });
        return whole;
      });
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
