import { z } from 'zod';
import { jobSpecSchema } from './job-spec.js';

/**
 * A job's lifecycle: `queued → planning → running → finalizing → succeeded | failed`,
 * `cancelling → cancelled`, and `queued → expired` (not started within `expiresAfterSeconds`); a retry
 * takes a failed or cancelled job back to `queued`. Allowed moves live in `jobs/job-state.ts`.
 */
export const jobStatusSchema = z.enum([
  'queued',
  'planning',
  'running',
  'finalizing',
  'succeeded',
  'failed',
  'cancelling',
  'cancelled',
  'expired',
]);
export type JobStatus = z.infer<typeof jobStatusSchema>;

const isoTimestamp = z.iso.datetime({ offset: true });
const count = z.number().int().nonnegative();

export const jobProgressSchema = z.object({
  chunksTotal: count,
  chunksDone: count,
  rowsScored: count,
  rowsRejected: count,
  /** Rows of the whole input, once planning knows them (Parquet, counted CSV); absent otherwise. */
  rowsTotal: count.optional(),
  /** Rows scored per second since the job started planning; 0 before it starts. */
  rowsPerSecond: z.number().nonnegative(),
  /** Seconds left at the observed chunk rate; null while unknown (no chunk done yet, or not planned). */
  etaSeconds: z.number().nonnegative().nullable(),
});
export type JobProgress = z.infer<typeof jobProgressSchema>;

/**
 * What a job cost: the resources its chunk attempts used (every attempt, the superseded and failed ones
 * too), and the rate over the wall time it spent scoring. Present once its first chunk attempt began.
 */
export const jobUsageSchema = z.object({
  /**
   * CPU seconds of the worker processes (every thread: decoding, mapping, inference) while the job's
   * attempts ran, shared equally among the attempts a process ran at once.
   */
  cpuSeconds: z.number().nonnegative(),
  /** Seconds the inference threads spent in the model's `run()` for the job. */
  deviceSeconds: z.number().nonnegative(),
  /** Input bytes read (through storage, or in place by a native decoder). */
  bytesRead: count,
  /** Output bytes written: parts, rejected rows, commit markers. */
  bytesWritten: count,
  /** Wall seconds from the first chunk attempt's start to the last chunk commit (to now while running). */
  scoringSeconds: z.number().nonnegative(),
  /** Rows scored per second of `scoringSeconds`. */
  rowsPerSecond: z.number().nonnegative(),
  /** Chunk attempts after each chunk's first (a crashed, stalled, interrupted or failed attempt's retry). */
  retries: count,
  /** Attempts that stopped because another attempt of their chunk replaced them. */
  supersededAttempts: count,
});
export type JobUsage = z.infer<typeof jobUsageSchema>;

/** Why a job failed, and where: the object, the row within it, the chunk. */
export const jobErrorSchema = z.object({
  code: z.string().min(1),
  message: z.string(),
  uri: z.string().optional(),
  row: count.optional(),
  chunk: count.optional(),
});
export type JobError = z.infer<typeof jobErrorSchema>;

/**
 * Something a job that succeeded wants its users to know: a quality gate broken under `onViolation: warn`
 * (`QUALITY_GATE_WARNING`, with the column, the check, its figure and the limit).
 */
export const jobWarningSchema = z.object({
  code: z.string().min(1),
  message: z.string(),
  column: z.string().optional(),
  check: z.string().optional(),
  value: z.number().optional(),
  limit: z.number().optional(),
});
export type JobWarning = z.infer<typeof jobWarningSchema>;

/** How one earlier attempt of a job (before a retry) ended. */
export const jobAttemptSchema = z.object({
  /** 1 for the submission, 2 for the first retry, … */
  attempt: z.number().int().min(1),
  status: jobStatusSchema,
  startedAt: isoTimestamp.optional(),
  finishedAt: isoTimestamp.optional(),
  error: jobErrorSchema.optional(),
});
export type JobAttempt = z.infer<typeof jobAttemptSchema>;

/** What `GET /v1/jobs/:id` returns and webhooks carry as `data`. */
export const jobRecordSchema = z.object({
  id: z.string().min(1),
  tenant: z.string().min(1).default('default'),
  status: jobStatusSchema,
  spec: jobSpecSchema,
  /** `specDigest(spec)`: ties output parts and manifests to the exact spec that produced them. */
  specDigest: z.string().regex(/^[0-9a-f]{64}$/),
  createdAt: isoTimestamp,
  updatedAt: isoTimestamp,
  /** Set on entering `planning`. */
  startedAt: isoTimestamp.optional(),
  /** Set on entering a terminal state. */
  finishedAt: isoTimestamp.optional(),
  progress: jobProgressSchema,
  output: z.object({
    /** `<spec.output.uri>/<id>/`. */
    uri: z.string().min(1),
    /** Set once `_manifest.json` is written; readers trust only it. */
    manifestUri: z.string().min(1).optional(),
    /** Set once `_report.json` is written (also when a quality gate failed the job). */
    reportUri: z.string().min(1).optional(),
  }),
  /**
   * SHA-256 of the model bytes every chunk scores with: the spec's pin, or what the model URI served when
   * the job was planned (DESIGN invariant 8).
   */
  modelSha256: z.string().optional(),
  /** Each challenger's digest, by name, resolved with `modelSha256` (`spec.challengers`). */
  challengerSha256: z.record(z.string(), z.string()).optional(),
  error: jobErrorSchema.optional(),
  /** Quality gates broken under `warn`: the job succeeded, and says so here (and in its webhook). */
  warnings: z.array(jobWarningSchema).optional(),
  usage: jobUsageSchema.optional(),
  idempotencyKey: z.string().optional(),
  /** When the current attempt was queued: `createdAt`, or the time of the last retry (absent before one). */
  queuedAt: isoTimestamp.optional(),
  /** The current attempt: 1 until the job is retried (`POST /v1/jobs/:id/retry`), then 2, 3, … */
  attempts: z.number().int().min(1).optional(),
  /** Every earlier attempt's end, oldest first (its error kept); absent before the first retry. */
  previousAttempts: z.array(jobAttemptSchema).optional(),
});
export type JobRecord = z.infer<typeof jobRecordSchema>;

/**
 * A job as users see it (API responses, CLI output): the record with the webhook's signing secret left out,
 * so a secret written once never comes back over the wire.
 */
export const jobViewSchema = jobRecordSchema.extend({
  spec: jobSpecSchema.extend({
    webhook: z.object({ url: z.string() }).optional(),
  }),
});
export type JobView = z.infer<typeof jobViewSchema>;

export function toJobView(record: JobRecord): JobView {
  const { webhook, ...spec } = record.spec;
  return { ...record, spec: webhook ? { ...spec, webhook: { url: webhook.url } } : spec };
}
