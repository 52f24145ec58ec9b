import { z } from 'zod';
import { cancelJob } from '../../../jobs/cancel-job.js';
import { retryJob } from '../../../jobs/retry-job.js';
import type { Storage } from '../../../jobs/ports/storage.js';
import { grantCheckerFor } from '../../tenancy/tenancy.js';
import { jobOutputLayout } from '../../../jobs/output-layout.js';
import { SCHEDULE_KEY_PREFIX } from '../../../jobs/schedule/run-schedule.js';
import { submitJob } from '../../../jobs/submit-job.js';
import { specLimitsOf } from '../api-options.js';
import { JobSpecInvalid } from '../../../schemas/errors/job-spec-invalid.js';
import type { WebhookAllowlist } from '../../delivery/ssrf-guard.js';
import {
  chunkReportQuerySchema,
  chunkReportSchema,
  getJobQuerySchema,
  jobListSchema,
  jobResultsSchema,
  listJobsQuerySchema,
  type JobResults,
} from '../../../schemas/api.js';
import { jobViewSchema, toJobView } from '../../../schemas/job-record.js';
import { jobSpecSchema } from '../../../schemas/job-spec.js';
import { manifestSchema } from '../../../schemas/manifest.js';
import { type RunReport, runReportSchema } from '../../../schemas/run-report.js';
import type { JobRecord } from '../../../schemas/job-record.js';
import { StorageNotFound } from '../../../jobs/ports/errors/storage-not-found.js';
import { JobNotFound } from '../../../jobs/ports/errors/job-not-found.js';
import { parseUri } from '../../../jobs/ports/storage-uri.js';
import { type ApiContext, type ZodFastify, principalOf, visibleJob } from '../api-context.js';
import { JobNotSucceeded } from '../errors/job-not-succeeded.js';
import { OutputReplaced } from '../errors/output-replaced.js';
import { ReportInvalid } from '../errors/report-invalid.js';
import { ReportNotFound } from '../errors/report-not-found.js';
import { checkManifestUnderRoot } from '../manifest-under-root.js';
import { literalWebhookRefusal } from '../webhook-refusal.js';
import { TenantForbidden } from '../errors/tenant-forbidden.js';
import { waitForStatusChange } from '../../queue/job-watcher.js';
import { emptyBody, errorResponses, jobParams, v1Errors } from './route-schemas.js';

const submitHeaders = z.looseObject({
  /**
   * Makes the submission safe to retry: the same key with the same spec returns the job it created (200);
   * the same key with another spec is refused (409). Keys are per tenant.
   */
  'idempotency-key': z
    .string()
    .min(1)
    .max(255)
    .regex(/^[!-~]+$/, 'expected 1–255 visible ASCII characters')
    .refine(
      (key) => !key.startsWith(SCHEDULE_KEY_PREFIX),
      `keys starting with "${SCHEDULE_KEY_PREFIX}" are reserved for schedules`,
    )
    .optional(),
});

/** `key:value` filters into a label map (the schema has checked the colon). */
function labelsOf(label: string | string[] | undefined): Record<string, string> | undefined {
  if (label === undefined) return undefined;
  const filters = Array.isArray(label) ? label : [label];
  return Object.fromEntries(
    filters.map((filter) => [filter.slice(0, filter.indexOf(':')), filter.slice(filter.indexOf(':') + 1)]),
  );
}

/** The `/v1/jobs` routes. */
export function registerJobRoutes(app: ZodFastify, context: ApiContext): void {
  const { deps, options } = context;

  /** Submit a job. */
  app.post(
    '/jobs',
    {
      schema: {
        summary: 'Submit a job',
        description:
          'Validates the job spec (every problem reported with its field path) and queues the job. With an ' +
          '`Idempotency-Key`, a repeat of the same spec returns the same job with 200 instead of 201, and the ' +
          'same key with another spec is refused with 409 `IDEMPOTENCY_CONFLICT`. A tenant at its active-job ' +
          'limit gets 429 `TOO_MANY_ACTIVE_JOBS` with `Retry-After`. An output folder that another active job ' +
          'writes (the same `exact` location, one inside or around it) is 409 `OUTPUT_IN_USE`.',
        tags: ['jobs'],
        headers: submitHeaders,
        body: jobSpecSchema,
        response: {
          200: jobViewSchema,
          201: jobViewSchema,
          ...errorResponses(...v1Errors, 409, 413, 415),
        },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      refuseGuardedWebhook(request.body.webhook?.url, context.options.webhookAllow);
      const idempotencyKey = request.headers['idempotency-key'];
      const { record, created } = await submitJob(
        {
          store: context.limitedStore,
          queue: deps.queues,
          authorize: context.authorize,
        },
        request.body,
        {
          tenant: principal.tenant,
          limits: specLimitsOf(context.options),
          ...(idempotencyKey === undefined ? {} : { idempotencyKey }),
        },
      );
      return reply
        .code(created ? 201 : 200)
        .header('location', `/v1/jobs/${record.id}`)
        .send(toJobView(record));
    },
  );

  /** Read a job; optionally long-poll for its next status change. */
  app.get(
    '/jobs/:id',
    {
      schema: {
        summary: 'Get a job',
        description:
          'Status, progress (chunks, rows, rows/s, ETA), output and error of a job. With `waitSeconds`, the ' +
          'request is held until the status changes (answering at once with the new state) or the time is ' +
          'up (answering with the job as it is); a finished job answers at once. Another tenant’s job is 404.',
        tags: ['jobs'],
        params: jobParams,
        querystring: getJobQuerySchema,
        response: { 200: jobViewSchema, ...errorResponses(...v1Errors, 404) },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      const record = await visibleJob(deps.store, principal, request.params.id);
      const waitMs = Math.round(request.query.waitSeconds * 1000);
      if (waitMs === 0) return toJobView(record);
      const changed = await waitForStatusChange(
        context.watcher,
        () => deps.store.get(record.id),
        record,
        waitMs,
        context.closing,
      );
      if (changed === undefined) throw new JobNotFound(record.id);
      return toJobView(changed);
    },
  );

  /** A job's chunks by state and its progress over time. */
  app.get(
    '/jobs/:id/chunks',
    {
      schema: {
        summary: 'A job’s chunks',
        description:
          'How many of the job’s chunks wait, run (an attempt began and has not committed) and are ' +
          'committed; a page of the chunks (`offset`, `limit`) with their attempts and, once committed, ' +
          'their rows and commit time; and the rows done over time (at most 200 points), for a chart.',
        tags: ['jobs'],
        params: jobParams,
        querystring: chunkReportQuerySchema,
        response: { 200: chunkReportSchema, ...errorResponses(...v1Errors, 404) },
      },
    },
    async (request) => {
      const record = await visibleJob(deps.store, principalOf(request), request.params.id);
      const report = await deps.store.chunkReport(record.id, request.query);
      if (report === undefined) throw new JobNotFound(record.id);
      return report;
    },
  );

  /** List jobs. */
  app.get(
    '/jobs',
    {
      schema: {
        summary: 'List jobs',
        description:
          'The tenant’s jobs, newest first, filtered by `status` and `label` (`key:value`, repeatable, all ' +
          'must match). Follow `nextCursor` until it is null; a selective filter may give short pages on ' +
          'the way. Admin keys list every tenant’s jobs, or one tenant’s with `tenant`.',
        tags: ['jobs'],
        querystring: listJobsQuerySchema,
        response: { 200: jobListSchema, ...errorResponses(...v1Errors, 403) },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      const { status, label, limit, cursor, tenant } = request.query;
      if (tenant !== undefined && tenant !== principal.tenant && !principal.admin) {
        throw new TenantForbidden(tenant);
      }
      const labels = labelsOf(label);
      const page = await deps.store.list({
        limit,
        ...(principal.admin ? (tenant === undefined ? {} : { tenant }) : { tenant: principal.tenant }),
        ...(status === undefined ? {} : { status }),
        ...(labels === undefined ? {} : { labels }),
        ...(cursor === undefined ? {} : { cursor }),
      });
      return { jobs: page.jobs.map(toJobView), nextCursor: page.nextCursor };
    },
  );

  /** Cancel a job. */
  app.post(
    '/jobs/:id/cancel',
    {
      schema: {
        summary: 'Cancel a job',
        description:
          'Moves the job to `cancelling`: queued chunks are dropped, running ones finish their own part, ' +
          'then the job is `cancelled` (no `_SUCCESS`). A finished job is returned unchanged. A job already ' +
          'finalizing cannot be cancelled (409). Another tenant’s job is 404.',
        tags: ['jobs'],
        params: jobParams,
        body: emptyBody,
        response: { 200: jobViewSchema, ...errorResponses(...v1Errors, 404, 409) },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      const record = await visibleJob(deps.store, principal, request.params.id);
      const cancelled = await cancelJob(
        {
          store: deps.store,
          removeQueuedChunks: (id, total) => deps.queues.removeQueuedChunks(id, total),
          enqueueFinalize: (id) => deps.queues.enqueueFinalize(id),
        },
        record.id,
      );
      if (cancelled === undefined) throw new JobNotFound(record.id);
      return toJobView(cancelled);
    },
  );

  /** Retry a failed or cancelled job. */
  app.post(
    '/jobs/:id/retry',
    {
      schema: {
        summary: 'Retry a failed or cancelled job',
        description:
          'Queues another attempt of the job under the same id and output folder: chunks committed with the ' +
          'same spec, model and inputs are kept, the rest are scored again; the record counts `attempts` and ' +
          'keeps every earlier attempt’s end (and error) in `previousAttempts`, and the attempt’s end sends ' +
          'its own webhook. 409 `JOB_NOT_RETRYABLE` (naming the state) for a job that is neither failed nor ' +
          'cancelled, 409 `RETRY_MODEL_CHANGED` when the model URI now serves other bytes, 409 ' +
          '`RETRY_INPUT_CHANGED` when an input object a committed chunk read changed or is gone, 409 ' +
          '`OUTPUT_IN_USE` when another active job took its output folder meanwhile; 429 ' +
          '`TOO_MANY_ACTIVE_JOBS` at the tenant’s active-job limit. Another tenant’s job is 404.',
        tags: ['jobs'],
        params: jobParams,
        body: emptyBody,
        response: { 200: jobViewSchema, ...errorResponses(...v1Errors, 404, 409) },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      const record = await visibleJob(deps.store, principal, request.params.id);
      const retried = await retryJob(
        {
          store: deps.store,
          storage: retryStorage(context, record.tenant),
          clearQueued: async (id, total) => void (await deps.queues.clearForRetry?.(id, total)),
          enqueuePlan: (id, priority, attempt) => deps.queues.enqueuePlan(id, priority, attempt),
        },
        record.id,
        { ...maxActive(context.maxActiveJobsFor(record.tenant)) },
      );
      return toJobView(retried);
    },
  );

  /** The run report finalize wrote beside the manifest: row counts, column statistics, agreement, quality. */
  app.get(
    '/jobs/:id/report',
    {
      schema: {
        summary: 'Get a job’s run report',
        description:
          'The `_report.json` finalize wrote beside the manifest (`schemas/run-report.ts`): rows, models, ' +
          'per-column statistics with histograms, score quantiles, challenger agreement and the quality ' +
          'result. A job the quality gate failed (`failed`) has one too: that is when it matters most. 404 ' +
          '`REPORT_NOT_FOUND` while the job has none (not finished yet, or it ended without one, or before ' +
          'Quiver wrote reports); 409 `OUTPUT_REPLACED` for an `exact`-layout job whose location a later job ' +
          'has written since; 500 `REPORT_INVALID`, naming the object, for a file that is not a report. ' +
          'Another tenant’s job is 404.',
        tags: ['jobs'],
        params: jobParams,
        response: { 200: runReportSchema, ...errorResponses(...v1Errors, 404, 409, 500) },
      },
    },
    async (request): Promise<RunReport> => {
      const record = await visibleJob(deps.store, principalOf(request), request.params.id);
      return readRunReport(deps.storage, record);
    },
  );

  /** Results of a succeeded job. */
  app.get(
    '/jobs/:id/results',
    {
      schema: {
        summary: 'Get a job’s results',
        description:
          'The manifest of a succeeded job, and for every part (and rejected-rows file) in S3 a presigned GET ' +
          'URL valid until `urlsExpireAt`, with its size and SHA-256 to verify the download. 409 `JOB_NOT_SUCCEEDED` for a job that has not succeeded. ' +
          'A manifest listing any file outside the job’s own output root is refused with 409 ' +
          '`MANIFEST_OUTSIDE_ROOT`, and nothing is signed. An `exact`-layout job whose location a later job has ' +
          'written since gets 409 `OUTPUT_REPLACED`. ' +
          'Another tenant’s job is 404.',
        tags: ['jobs'],
        params: jobParams,
        response: { 200: jobResultsSchema, ...errorResponses(...v1Errors, 404, 409) },
      },
    },
    async (request): Promise<JobResults> => {
      const principal = principalOf(request);
      const record = await visibleJob(deps.store, principal, request.params.id);
      if (record.status !== 'succeeded') throw new JobNotSucceeded(record.id, record.status);
      const manifestUri =
        record.output.manifestUri ?? jobOutputLayout(record.spec.output, record.id).manifest;
      const manifest = manifestSchema.parse(
        JSON.parse(Buffer.from(await deps.storage.read(manifestUri)).toString('utf8')) as unknown,
      );
      // An exact location holds the manifest of whichever job wrote it last.
      if (manifest.jobId !== record.id) throw new OutputReplaced(record.id, manifest.jobId, manifestUri);
      // Nothing is signed unless every entry lies under the job's own root.
      checkManifestUnderRoot(record.id, manifest, record.output.uri);
      const expirySeconds = options.resultUrlExpirySeconds;
      const presigner = deps.presigner;
      let signed = false;
      const withUrl = async <T extends { uri: string }>(file: T): Promise<T & { url?: string }> => {
        if (presigner === undefined || parseUri(file.uri).scheme !== 's3') return file;
        signed = true;
        return { ...file, url: await presigner.presignGet(file.uri, expirySeconds) };
      };
      const signedAt = context.now();
      const parts = await Promise.all(manifest.parts.map((part) => withUrl(part)));
      const rejected = await Promise.all(manifest.rejected.map((file) => withUrl(file)));
      return {
        jobId: record.id,
        manifestUri,
        manifest,
        parts,
        rejected,
        ...(signed
          ? { urlsExpireAt: new Date(signedAt.getTime() + expirySeconds * 1000).toISOString() }
          : {}),
      };
    },
  );
}

/** A webhook URL the SSRF guard refuses by its literal address is a bad spec, reported at `webhook.url`. */
function refuseGuardedWebhook(url: string | undefined, allow: WebhookAllowlist): void {
  const refusal = literalWebhookRefusal(url, allow);
  if (refusal !== undefined) throw new JobSpecInvalid([{ path: 'webhook.url', message: refusal }]);
}

/**
 * The job's run report at `jobOutputLayout(…).report`, checked against `runReportSchema`. At an `exact`
 * location the file is whichever run wrote it last: one written before this job was created is an earlier
 * run's (this job has none yet), one written since is a later run's (this job's was replaced).
 */
async function readRunReport(storage: Pick<Storage, 'read'>, record: JobRecord): Promise<RunReport> {
  const reportUri = jobOutputLayout(record.spec.output, record.id).report;
  let bytes: Uint8Array;
  try {
    bytes = await storage.read(reportUri);
  } catch (error) {
    if (error instanceof StorageNotFound) throw new ReportNotFound(record.id, record.status, reportUri);
    throw error;
  }
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes).toString('utf8')) as unknown;
  } catch (error) {
    throw new ReportInvalid(record.id, reportUri, 'not JSON', error);
  }
  const parsed = runReportSchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues
      .slice(0, 3)
      .map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`);
    throw new ReportInvalid(record.id, reportUri, problems.join('; '), parsed.error);
  }
  const report = parsed.data;
  if (report.jobId !== record.id) {
    if (Date.parse(report.createdAt) < Date.parse(record.createdAt))
      throw new ReportNotFound(record.id, record.status, reportUri);
    throw new OutputReplaced(record.id, report.jobId, reportUri);
  }
  return report;
}

const maxActive = (limit: number | undefined): { maxActiveJobs?: number } =>
  limit === undefined ? {} : { maxActiveJobs: limit };

/**
 * The API's storage as one tenant may use it for a retry's checks: only under its read grants (DESIGN
 * invariant 9; a grant narrowed since the submission applies now).
 */
function retryStorage(context: ApiContext, tenant: string): Pick<Storage, 'read' | 'stat'> {
  const { storage, tenancy } = context.deps;
  const checker = tenancy === undefined ? undefined : grantCheckerFor(tenancy, tenant);
  return {
    async read(uri, range, options) {
      await checker?.check(uri, 'read');
      return storage.read(uri, range, options);
    },
    async stat(uri, options) {
      await checker?.check(uri, 'read');
      if (storage.stat === undefined) throw new Error('the API was given a storage without stat');
      return storage.stat(uri, options);
    },
  };
}
