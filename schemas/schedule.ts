import { z } from 'zod';
import { cronPatternSchema, nextRunAfter } from './cron-pattern.js';
import { isoDurationSchema } from './iso-duration.js';
import type { JobRecord } from './job-record.js';
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
 * A job spec with placeholders in any of its strings, rendered for a run's logical time (the cron tick it
 * stands for): `{date}` (its day, `YYYY-MM-DD`, in the schedule's time zone), `{yyyy}`, `{mm}`, `{dd}`,
 * `{hour}`, `{minute}` and `{datetime}` (ISO 8601 UTC), each with an optional offset (`{date-1d}`,
 * `{hour-1h}`, `{datetime-6h}`; units d, w, h, m). Checked as a job spec once rendered, by `parseSchedule` in `jobs/schedule/parse-schedule.ts`: rendering
 * is the scheduler's logic, not a schema's.
 */
export const jobTemplateSchema = z.record(z.string(), z.unknown());
export type JobTemplate = z.infer<typeof jobTemplateSchema>;

/** What a schedule does about ticks missed while no scheduler ran or while it was paused. */
export const catchUpPolicySchema = z.enum(['none', 'latest', 'all']);

/** Limits of a schedule's fields. */
export const scheduleLimits = { maxActiveRuns: 1000, catchUpWindowDays: 366 } as const;

const scheduleFields = {
  name: scheduleNameSchema,
  /** `0 2 * * *` (02:00 every day) or, with seconds first, `0 0 2 * * *`. */
  cron: cronPatternSchema,
  /** The zone `cron` and the placeholders are read in. Default `UTC`. */
  timezone: timeZoneSchema.default('UTC'),
  job: jobTemplateSchema,
  /**
   * A paused schedule keeps its definition but does not tick, catch up or start waiting runs; resuming
   * catches up per `catchUp`. Default false.
   */
  paused: z.boolean().optional(),
  /** The older name of `!paused`, still accepted and returned. Default true. */
  enabled: z.boolean().optional(),
  /**
   * Ticks missed inside `catchUpWindow` (the scheduler was down, or the schedule paused), when the
   * scheduler starts or the schedule is resumed: `none` skips them, `latest` runs only the newest, `all`
   * runs every one, oldest first. Default `latest`.
   */
  catchUp: catchUpPolicySchema.default('latest'),
  /** How far back missed ticks are caught up (ISO 8601 duration, at most P366D). Default `P3D`. */
  catchUpWindow: isoDurationSchema(scheduleLimits.catchUpWindowDays).default('P3D'),
  /**
   * Runs of this schedule whose jobs may be unfinished at once; a tick beyond that waits (a waiting run,
   * started in logical-time order as earlier runs end). Default 1.
   */
  maxActiveRuns: z.number().int().min(1).max(scheduleLimits.maxActiveRuns).default(1),
};

/** `paused` from `paused` or the older `enabled`; both given must agree. */
function withPaused<T extends { paused?: boolean | undefined; enabled?: boolean | undefined }>(
  value: T,
  context: z.RefinementCtx,
): Omit<T, 'paused' | 'enabled'> & { paused: boolean; enabled: boolean } {
  if (value.paused !== undefined && value.enabled !== undefined && value.paused === value.enabled)
    context.addIssue({
      code: 'custom',
      path: ['paused'],
      message: '`paused` and its older form `enabled` disagree; give one of them',
    });
  const paused = value.paused ?? (value.enabled === undefined ? false : !value.enabled);
  return { ...value, paused, enabled: !paused };
}

/**
 * A schedule as written (`POST /v1/schedules`): run `job`, rendered for each tick's logical time, whenever
 * `cron` matches in `timezone`. Unknown fields are refused.
 */
export const scheduleInputSchema = z.object(scheduleFields).strict().transform(withPaused);
/** What a user may write: defaults optional. */
export type ScheduleInput = z.input<typeof scheduleInputSchema>;
/** A validated schedule with its defaults filled in. */
export type ScheduleDefinition = z.output<typeof scheduleInputSchema>;

const isoTimestamp = z.iso.datetime({ offset: true });

/** The last job a schedule submitted (or found already submitted for that logical time). */
export const scheduleRunSchema = z.object({
  /** The run's logical time as an instant: the tick it stands for. */
  at: isoTimestamp,
  /** The run's day in the schedule's time zone, as `{date}` rendered. */
  date: z.string(),
  /** The run's logical time in the schedule's zone (`2026-03-29T03:30+02:00`); absent on older records. */
  logicalTime: z.string().optional(),
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
  paused: z.boolean(),
  catchUp: scheduleFields.catchUp,
  catchUpWindow: z.string().default('P3D'),
  maxActiveRuns: z.number().int().min(1).default(1),
  createdAt: isoTimestamp,
  updatedAt: isoTimestamp,
  lastRun: scheduleRunSchema.optional(),
  lastError: scheduleErrorSchema.optional(),
});
export type ScheduleRecord = z.infer<typeof scheduleRecordSchema>;

/**
 * A schedule as users see it: the record with the webhook's signing secrets left out of its job template
 * (as `toJobView` does for jobs), and when it runs next (null when paused).
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
    nextRunAt: record.paused ? null : nextRunAt(record, now),
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

/** Where a run came from: a tick, a catch-up after missed ticks, a backfill, or a run-now call. */
export const scheduleRunSourceSchema = z.enum(['tick', 'catch-up', 'backfill', 'run']);
export type ScheduleRunSource = z.infer<typeof scheduleRunSourceSchema>;

/**
 * One run of a schedule as stored (services/scheduler/schedule-runs.ts): the logical time it stands for
 * and its job. `waiting` until `maxActiveRuns` lets it start, then `admitted` (its job being made) and
 * `submitted` (its job exists); `refused` when its
 * template did not render to a job the tenant may run (`error`). The job id is known from the start: it
 * derives from the tenant and the run's idempotency key.
 */
export const scheduleRunEntrySchema = z.object({
  logicalTime: z.string().min(1),
  at: isoTimestamp,
  jobId: z.string().min(1),
  source: scheduleRunSourceSchema,
  state: z.enum(['waiting', 'admitted', 'submitted', 'refused']),
  queuedAt: isoTimestamp,
  submittedAt: isoTimestamp.optional(),
  error: z.object({ code: z.string(), message: z.string() }).optional(),
});
export type ScheduleRunEntry = z.infer<typeof scheduleRunEntrySchema>;

/**
 * A run as users see it: its logical time, where it came from, its job and that job's status (`waiting`
 * before it starts; `refused` when its template no longer made a valid job; `missing` when the job record
 * is gone, e.g. removed by retention), rows scored and duration in seconds (once the job started).
 */
export const scheduleRunViewSchema = z.object({
  logicalTime: z.string(),
  at: isoTimestamp,
  source: scheduleRunSourceSchema,
  jobId: z.string(),
  status: z.string(),
  rows: z.number().int().nonnegative().nullable(),
  durationSeconds: z.number().nonnegative().nullable(),
  queuedAt: isoTimestamp,
  submittedAt: isoTimestamp.nullable(),
  error: z.object({ code: z.string(), message: z.string() }).optional(),
});
export type ScheduleRunView = z.infer<typeof scheduleRunViewSchema>;

/** A run as users see it, with its job's record when there is one. */
export function toScheduleRunView(entry: ScheduleRunEntry, job: JobRecord | undefined): ScheduleRunView {
  const status =
    entry.state === 'waiting' || entry.state === 'refused'
      ? entry.state
      : (job?.status ?? (entry.state === 'admitted' ? 'admitted' : 'missing'));
  const started = job?.startedAt === undefined ? undefined : Date.parse(job.startedAt);
  const ended = job?.finishedAt === undefined ? undefined : Date.parse(job.finishedAt);
  return {
    logicalTime: entry.logicalTime,
    at: entry.at,
    source: entry.source,
    jobId: entry.jobId,
    status,
    rows: job === undefined ? null : job.progress.rowsScored,
    durationSeconds: started === undefined ? null : Math.max(0, ((ended ?? Date.now()) - started) / 1000),
    queuedAt: entry.queuedAt,
    submittedAt: entry.submittedAt ?? null,
    ...(entry.error === undefined ? {} : { error: entry.error }),
  };
}

/**
 * `GET /v1/schedules/:name`: the schedule with its next five fire times (empty when paused), its last 20
 * runs (newest first) and how many runs wait and are active.
 */
export const scheduleDetailSchema = scheduleViewSchema.extend({
  nextRunTimes: z.array(isoTimestamp),
  runs: z.array(scheduleRunViewSchema),
  waitingRuns: z.number().int().nonnegative(),
  activeRuns: z.number().int().nonnegative(),
});
export type ScheduleDetail = z.infer<typeof scheduleDetailSchema>;

/** `GET /v1/schedules/:name/runs` reply: a page of runs, newest first. */
export const scheduleRunPageSchema = z.object({
  runs: z.array(scheduleRunViewSchema),
  /** Pass as `cursor` for the next (older) page; null when none is left. */
  nextCursor: z.string().nullable(),
});
export type ScheduleRunPage = z.infer<typeof scheduleRunPageSchema>;

/** `GET /v1/schedules/:name/runs` query. */
export const scheduleRunsQuerySchema = z
  .object({
    tenant: z.string().min(1).max(63).optional(),
    limit: z.coerce.number().int().min(1).max(200).default(20),
    cursor: z
      .string()
      .regex(/^-?\d{1,16}$/, 'expected the nextCursor of the previous page')
      .optional(),
  })
  .strict();

/** `POST /v1/schedules/:name/backfill` body: dates (`2026-11-20`, whole days) or times, both included. */
export const backfillBodySchema = z
  .object({
    /** First day or time (in the schedule's zone unless it carries an offset), included. */
    from: z.string().min(1).max(40),
    /** Last day or time, included. */
    to: z.string().min(1).max(40),
  })
  .strict();
export type BackfillBody = z.infer<typeof backfillBodySchema>;

/** `POST /v1/schedules/:name/backfill` reply: one run per tick of the range, oldest first. */
export const backfillReplySchema = z.object({
  /** Runs this call added (0 when the same backfill ran before). */
  created: z.number().int().nonnegative(),
  runs: z.array(scheduleRunViewSchema),
});
export type BackfillReply = z.infer<typeof backfillReplySchema>;

/** `POST /v1/schedules/:name/run` body (optional): which tick to run, as a day or time; default now. */
export const runNowBodySchema = z
  .object({ at: z.string().min(1).max(40).optional() })
  .strict()
  .nullish();
