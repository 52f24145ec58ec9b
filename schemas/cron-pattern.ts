import { CronExpressionParser } from 'cron-parser';
import { z } from 'zod';

/**
 * What is wrong with a cron pattern, or undefined when it is usable: 5 fields (minute hour day-of-month
 * month day-of-week) or 6 (seconds first), as BullMQ's job schedulers read them. cron-parser itself fills
 * in missing fields (it takes `* * * *` and even the empty string), so the count is checked here first.
 */
export function cronProblem(pattern: string): string | undefined {
  const fields = pattern
    .trim()
    .split(/\s+/)
    .filter((field) => field !== '');
  if (fields.length !== 5 && fields.length !== 6) {
    return `expected 5 fields (minute hour day month weekday) or 6 (seconds first), got ${fields.length}`;
  }
  try {
    CronExpressionParser.parse(pattern, { tz: 'UTC' });
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

/**
 * The first time strictly after `after` that `pattern` matches in `timeZone`, by the same parser BullMQ's
 * job schedulers use, so `nextRunAt` agrees with when the tick really comes.
 */
export function nextRunAfter(pattern: string, timeZone: string, after: Date): Date {
  return CronExpressionParser.parse(pattern, { tz: timeZone, currentDate: after }).next().toDate();
}

/** A cron pattern of 5 fields (minute first) or 6 (seconds first), read by cron-parser as BullMQ reads it. */
export const cronPatternSchema = z
  .string()
  .max(200)
  .superRefine((pattern, context) => {
    const problem = cronProblem(pattern);
    if (problem !== undefined) context.addIssue({ code: 'custom', message: problem });
  });

/**
 * The ticks of `pattern` in `timeZone` strictly after `after`, one per call, walked forward as BullMQ's job
 * schedulers walk them (jobs/schedule/schedule-ticks.ts builds catch-up and backfill on it).
 */
export function tickIterator(pattern: string, timeZone: string, after: Date): () => Date {
  const iterator = CronExpressionParser.parse(pattern, { tz: timeZone, currentDate: after });
  return () => iterator.next().toDate();
}
