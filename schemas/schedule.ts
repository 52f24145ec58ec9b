import { z } from 'zod';
import { cronPatternSchema, nextRunAfter } from './cron-pattern.js';
import { timeZoneSchema } from './time-zone.js';

/** A schedule's name: unique per tenant, part of its URL and of its runs' idempotency keys. */
export const scheduleNameSchema = z
  .string()
  .min(1)
  .max(100)
  .regex(
    /^[a-z0-9][a-z0-9_-]*$/,
    'expected lowercase letters, digits, "-" or "_", starting with a letter or digit',
  );

/**
 * A job spec with placeholders in any of its strings: `{date}` (the run's day, `YYYY-MM-DD`, in the
 * schedule's time zone), `{yyyy}`, `{mm}`, `{dd}` and `{datetime}` (the run's time, ISO 8601 UTC).
 * Checked as a job spec once rendered, by `parseSchedule` in `jobs/schedule/parse-schedule.ts`: rendering
 * is the scheduler's logic, not a schema's.
 */
export const jobTemplateSchema = z.record(z.string(), z.unknown());
export type JobTemplate = z.infer<typeof jobTemplateSchema>;

/**
 * A schedule as written (`POST /v1/schedules`): run `job`, rendered for the day, whenever `cron` matches
 * in `timezone`. Unknown fields are refused.
 */
export const scheduleInputSchema = z
  .object({
    name: scheduleNameSchema,
    /** `0 2 * * *` (02:00 every day) or, with seconds first, `0 0 2 * * *`. */
    cron: cronPatternSchema,
    /** The zone `cron` and the `{date}` placeholders are read in. Default `UTC`. */
    timezone: timeZoneSchema.default('UTC'),
    job: jobTemplateSchema,
    /** A disabled schedule keeps its definition but does not tick. Default true. */
    enabled: z.boolean().default(true),
  })
  .strict();
/** What a user may write: defaults optional. */
export type ScheduleInput = z.input<typeof scheduleInputSchema>;
/** A validated schedule with its defaults filled in. */
export type ScheduleDefinition = z.output<typeof scheduleInputSchema>;

const isoTimestamp = z.iso.datetime({ offset: true });

/** The last job a schedule submitted (or found already submitted for that day). */
export const scheduleRunSchema = z.object({
  /** When the run was due (a tick's scheduled time, or the time of a run-now call). */
  at: isoTimestamp,
  /** The run's day in the schedule's time zone, as `{date}` rendered. */
  date: z.string(),
  jobId: z.string().min(1),
});
export type ScheduleRun = z.infer<typeof scheduleRunSchema>;

/** Why the last run could not submit its job (its rendered spec no longer validates); cleared by a good run. */
export const scheduleErrorSchema = z.object({
  at: isoTimestamp,
  code: z.string().min(1),
  message: z.string(),
  problems: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
});
export type ScheduleError = z.infer<typeof scheduleErrorSchema>;

/** A stored schedule: its definition, its tenant and its history. */
export const scheduleRecordSchema = z.object({
  tenant: z.string().min(1),
  name: z.string().min(1),
  cron: z.string(),
  timezone: z.string(),
  job: jobTemplateSchema,
  enabled: z.boolean(),
  createdAt: isoTimestamp,
  updatedAt: isoTimestamp,
  lastRun: scheduleRunSchema.optional(),
  lastError: scheduleErrorSchema.optional(),
});
export type ScheduleRecord = z.infer<typeof scheduleRecordSchema>;

/**
 * A schedule as users see it: the record with the webhook's signing secrets left out of its job template
 * (as `toJobView` does for jobs), and when it runs next (null when disabled).
 */
export const scheduleViewSchema = scheduleRecordSchema.extend({
  nextRunAt: isoTimestamp.nullable(),
});
export type ScheduleView = z.infer<typeof scheduleViewSchema>;

export function toScheduleView(record: ScheduleRecord, now: Date): ScheduleView {
  const { webhook, ...job } = record.job;
  const url = (webhook as { url?: unknown } | null | undefined)?.url;
  return {
    ...record,
    job: webhook === undefined ? job : { ...job, webhook: typeof url === 'string' ? { url } : {} },
    nextRunAt: record.enabled ? nextRunAt(record, now) : null,
  };
}

/** The next run after `now`; null for a stored pattern this version can no longer read (a view never fails). */
function nextRunAt(record: Pick<ScheduleRecord, 'cron' | 'timezone'>, now: Date): string | null {
  try {
    return nextRunAfter(record.cron, record.timezone, now).toISOString();
  } catch {
    return null;
  }
}

/** `GET /v1/schedules` reply: every schedule asked for, by tenant then name. */
export const scheduleListSchema = z.object({ schedules: z.array(scheduleViewSchema) });
export type ScheduleList = z.infer<typeof scheduleListSchema>;

/**
 * `?tenant=` of the schedule routes: an admin key acts for this tenant instead of its own. A key without
 * the admin scope may name only its own tenant (403 `ADMIN_REQUIRED` otherwise).
 */
export const scheduleTenantQuerySchema = z.object({ tenant: z.string().min(1).max(63).optional() }).strict();

/** `:name` of the `/v1/schedules/:name…` routes; a name no schedule could have is simply not found. */
export const scheduleParams = z.object({ name: z.string().min(1).max(200) });
