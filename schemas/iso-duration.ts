import { z } from 'zod';

const DURATION = /^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$/;

/**
 * Milliseconds of an ISO 8601 duration of weeks, days, hours, minutes and seconds (`P3D`, `PT6H`,
 * `P1DT12H`); a day is 24 hours. Undefined for anything else (years and months have no fixed length).
 */
export function isoDurationMs(text: string): number | undefined {
  const match = DURATION.exec(text);
  if (match === null || text === 'P' || text.endsWith('T')) return undefined;
  const [w, d, h, m, s] = match.slice(1).map((n) => Number(n ?? 0)) as [
    number,
    number,
    number,
    number,
    number,
  ];
  return ((((w * 7 + d) * 24 + h) * 60 + m) * 60 + s) * 1000;
}

/** An ISO 8601 duration (`P3D`, `PT12H`) of at least one second and at most `maxDays` days. */
export function isoDurationSchema(maxDays: number) {
  return z
    .string()
    .max(40)
    .superRefine((text, context) => {
      const ms = isoDurationMs(text);
      if (ms === undefined)
        context.addIssue({
          code: 'custom',
          message:
            'expected an ISO 8601 duration of weeks, days, hours, minutes or seconds, such as P3D or PT12H',
        });
      else if (ms < 1000 || ms > maxDays * 24 * 3600 * 1000)
        context.addIssue({ code: 'custom', message: `expected between PT1S and P${maxDays}D` });
    });
}
