import { z } from 'zod';
import { deliveryRecordSchema } from './delivery.js';
import { jobStatusSchema, jobViewSchema } from './job-record.js';
import { partitionValuesSchema } from './chunk-commit.js';
import { manifestSchema } from './manifest.js';

/**
 * Every error the API answers: a stable `code` scripts can branch on, a message for people, and for
 * validation errors every problem with its field path.
 */
export const apiErrorSchema = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    problems: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  }),
});
export type ApiError = z.infer<typeof apiErrorSchema>;

/**
 * The shape of a job id: a UUID (what the store gives a new job) or 32 lowercase hex digits (an idempotent
 * submission's id, `idempotentJobId`). The API checks it before any Redis call, so a path such as
 * `/v1/jobs/<id>:chunks` never names another key of the job.
 */
export const jobIdSchema = z
  .string()
  .regex(/^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32})$/);

const labelFilter = z
  .string()
  .max(300)
  .regex(/^[^:]+:/, 'expected key:value');

/** `GET /v1/jobs` query. `label` is `key:value` (repeatable: all must match). */
export const listJobsQuerySchema = z
  .object({
    status: jobStatusSchema.optional(),
    label: z.union([labelFilter, z.array(labelFilter).max(32)]).optional(),
    /**
     * Admin keys only: list this tenant's jobs; an admin key without it lists every tenant's. A key without
     * the admin scope may name only its own tenant (403 otherwise).
     */
    tenant: z.string().min(1).max(63).optional(),
    /** Page size, 1–100 (default 20). */
    limit: z.coerce.number().int().min(1).max(100).default(20),
    /** `nextCursor` of the previous page. */
    cursor: z.string().max(200).optional(),
  })
  .strict();
export type ListJobsQuery = z.infer<typeof listJobsQuerySchema>;

/** A page of the tenant's jobs, newest first; `nextCursor` is null on the last page. */
export const jobListSchema = z.object({
  jobs: z.array(jobViewSchema),
  nextCursor: z.string().nullable(),
});
export type JobList = z.infer<typeof jobListSchema>;

/** `GET /v1/jobs/:id` query: long-poll up to `waitSeconds` (0–60) for the status to change. */
export const getJobQuerySchema = z
  .object({ waitSeconds: z.coerce.number().min(0).max(60).default(0) })
  .strict();

/** `GET /healthz` and `GET /readyz` when all is well. */
export const healthSchema = z.object({ status: z.enum(['ok', 'ready']) });

const queueDepthSchema = z.object({
  /** Waiting to run (prioritized included). */
  waiting: z.number().int().nonnegative(),
  /** Of `waiting`, those with a priority (every chunk has one): BullMQ keeps them in their own set. */
  prioritized: z.number().int().nonnegative(),
  active: z.number().int().nonnegative(),
  /** Scheduled for later (retries, webhook attempts). */
  delayed: z.number().int().nonnegative(),
  failed: z.number().int().nonnegative(),
  /**
   * The work the pool has or will have: waiting (prioritized included) + delayed + active. What worker
   * autoscaling follows: a backlog of prioritized chunks or delayed retries is never read as zero, and a
   * busy pool is not scaled in under its running chunks.
   */
  backlog: z.number().int().nonnegative(),
});

/** `GET /v1/queues`: jobs per queue by state, what autoscaling follows (`score.backlog`). */
export const queueDepthsSchema = z.object({
  plan: queueDepthSchema,
  /** Every chunk, whatever its device class: the sum of the three `score-<class>` entries. */
  score: queueDepthSchema,
  /** Chunks of `resources.device: cpu` jobs: CPU workers take them. */
  'score-cpu': queueDepthSchema,
  /** Chunks of `resources.device: gpu` jobs: GPU workers take them. */
  'score-gpu': queueDepthSchema,
  /** Chunks of `resources.device: any` jobs (the default): CPU and GPU workers take them. */
  'score-any': queueDepthSchema,
  finalize: queueDepthSchema,
  deliver: queueDepthSchema,
});
export type QueueDepth = z.infer<typeof queueDepthSchema>;
export type QueueDepths = z.infer<typeof queueDepthsSchema>;

/**
 * `GET /v1/jobs/:id/results` of a succeeded job: its manifest, and for each part (and rejected file) a
 * presigned GET URL when the output is in S3 (`url` absent for file:// outputs, which are read in place).
 */
export const jobResultsSchema = z.object({
  jobId: z.string(),
  manifestUri: z.string(),
  manifest: manifestSchema,
  parts: z.array(
    z.object({
      index: z.number().int(),
      uri: z.string(),
      rows: z.number().int(),
      /** Size and SHA-256 of the part as written (from the manifest; absent for manifests before v0.2). */
      bytes: z.number().int().optional(),
      sha256: z.string().optional(),
      /** With `output.partitionBy`: the part's partition values (from the manifest). */
      partition: partitionValuesSchema.optional(),
      url: z.string().optional(),
    }),
  ),
  rejected: z.array(
    z.object({
      index: z.number().int(),
      uri: z.string(),
      rows: z.number().int(),
      bytes: z.number().int().optional(),
      sha256: z.string().optional(),
      url: z.string().optional(),
    }),
  ),
  /** When the presigned URLs stop working. */
  urlsExpireAt: z.string().optional(),
});
export type JobResults = z.infer<typeof jobResultsSchema>;

export const deliveryListSchema = z.object({ deliveries: z.array(deliveryRecordSchema) });
export type DeliveryList = z.infer<typeof deliveryListSchema>;

/** `GET /v1/jobs/:id/chunks` query: a page of the chunk list, by index. */
export const chunkReportQuerySchema = z
  .object({
    offset: z.coerce.number().int().min(0).default(0),
    /** Chunks listed, 1–1000 (default 500); the counts and the timeline cover all of them regardless. */
    limit: z.coerce.number().int().min(1).max(1000).default(500),
  })
  .strict();

const chunkStateSchema = z.enum(['waiting', 'running', 'committed']);

/** The most points `timeline` has: enough for a chart, bounded for a job of 100,000 chunks. */
export const TIMELINE_POINTS = 200;

/**
 * `GET /v1/jobs/:id/chunks`: the job's chunks by state, and its progress over time. `running` means an
 * attempt began and has not committed (it may be a crashed attempt the queue has not yet retried).
 */
export const chunkReportSchema = z.object({
  /** Chunks planned (0 before planning). */
  total: z.number().int().nonnegative(),
  counts: z.record(chunkStateSchema, z.number().int().nonnegative()),
  /** Chunks `[offset, offset + limit)` of the query. */
  chunks: z.array(
    z.object({
      index: z.number().int().nonnegative(),
      state: chunkStateSchema,
      /** Attempts begun (0 while waiting; more than 1 after a retry). */
      attempts: z.number().int().nonnegative(),
      /** Of a committed chunk: rows scored and rows refused, and when it committed. */
      rows: z.number().int().nonnegative().optional(),
      rejected: z.number().int().nonnegative().optional(),
      committedAt: z.string().optional(),
    }),
  ),
  /**
   * Rows done (scored + refused) over time: one point per chunk commit, oldest first, thinned evenly to at
   * most `TIMELINE_POINTS` (the last always kept), starting at the job's start with 0.
   */
  timeline: z.array(z.object({ at: z.string(), rows: z.number().int().nonnegative() })),
});
export type ChunkReport = z.infer<typeof chunkReportSchema>;
