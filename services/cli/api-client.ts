import type { z } from 'zod';
import {
  apiErrorSchema,
  deliveryListSchema,
  jobListSchema,
  jobResultsSchema,
  type DeliveryList,
  type JobList,
  type JobResults,
} from '../../schemas/api.js';
import { jobViewSchema, type JobStatus, type JobView } from '../../schemas/job-record.js';
import { type RunReport, runReportSchema } from '../../schemas/run-report.js';
import {
  type BackfillReply,
  type ScheduleDetail,
  type ScheduleInput,
  type ScheduleList,
  type ScheduleRunPage,
  type ScheduleView,
  backfillReplySchema,
  scheduleDetailSchema,
  scheduleListSchema,
  scheduleRunPageSchema,
  scheduleViewSchema,
} from '../../schemas/schedule.js';
import { ApiRequestError } from './errors/api-request-error.js';
import { ApiResponseInvalid } from './errors/api-response-invalid.js';
import { ApiUnreachable } from './errors/api-unreachable.js';

/** Where the CLI finds the API when neither `--api-url` nor `QUIVER_API_URL` says. */
export const DEFAULT_API_URL = 'http://127.0.0.1:8080';

/** Options of {@link makeApiClient}. */
export interface ApiClientOptions {
  /** Base URL of the API, without `/v1` (e.g. `http://127.0.0.1:8080`). */
  baseUrl: string;
  /** Bearer key; it scopes every call to its tenant. */
  apiKey: string;
  /**
   * Milliseconds one request may take, on top of a long-poll's own wait. Default 30 000: a slow answer
   * becomes an `ApiUnreachable` naming the timeout rather than a hang.
   */
  timeoutMs?: number;
  /** The fetch to call (tests pass a fake). Default the global `fetch`. */
  fetch?: typeof fetch;
}

/** `GET /v1/jobs` filters, as the CLI takes them. */
export interface ListJobsOptions {
  status?: JobStatus;
  /** `key:value` pairs; a job must carry every one. */
  labels?: readonly string[];
  /** Page size, 1–100. */
  limit?: number;
  cursor?: string;
}

/** Options of every schedule call: an admin key may act for another tenant (`?tenant=`). */
export interface ScheduleCallOptions {
  tenant?: string;
}

export interface ApiClient {
  readonly baseUrl: string;
  /** `POST /v1/jobs`; `created` is false when the idempotency key named an existing job. */
  submitJob(
    spec: unknown,
    options?: { idempotencyKey?: string },
  ): Promise<{ job: JobView; created: boolean }>;
  /** `GET /v1/jobs/:id`; with `waitSeconds`, returns early as soon as the job's status changes. */
  getJob(id: string, options?: { waitSeconds?: number }): Promise<JobView>;
  listJobs(options?: ListJobsOptions): Promise<JobList>;
  cancelJob(id: string): Promise<JobView>;
  /** `POST /v1/jobs/:id/retry`: another attempt of a failed or cancelled job. */
  retryJob(id: string): Promise<JobView>;
  getResults(id: string): Promise<JobResults>;
  /** `GET /v1/jobs/:id/report`: the run report finalize wrote (404 `REPORT_NOT_FOUND` before it exists). */
  getReport(id: string): Promise<RunReport>;
  getDeliveries(id: string): Promise<DeliveryList>;
  /** `GET /v1/schedules`: the tenant's (an admin key's: every tenant's, unless `tenant` says). */
  listSchedules(options?: ScheduleCallOptions): Promise<ScheduleList>;
  /** `GET /v1/schedules/:name`: with next fire times, the last 20 runs and waiting/active counts. */
  getSchedule(name: string, options?: ScheduleCallOptions): Promise<ScheduleDetail>;
  /** `POST /v1/schedules`, which creates or replaces by name; `created` is false when it replaced one. */
  saveSchedule(
    definition: ScheduleInput | Record<string, unknown>,
    options?: ScheduleCallOptions,
  ): Promise<{ schedule: ScheduleView; created: boolean }>;
  /** `DELETE /v1/schedules/:name`. */
  deleteSchedule(name: string, options?: ScheduleCallOptions): Promise<void>;
  /** `POST /v1/schedules/:name/run`: the job of the latest tick (at or before `at`), made now or earlier. */
  runSchedule(name: string, options?: ScheduleCallOptions & { at?: string }): Promise<JobView>;
  /** `POST /v1/schedules/:name/backfill`: one run per tick from `from` to `to`, both included. */
  backfillSchedule(
    name: string,
    range: { from: string; to: string },
    options?: ScheduleCallOptions,
  ): Promise<BackfillReply>;
  /** `POST /v1/schedules/:name/pause` or `/resume`. */
  setSchedulePaused(name: string, paused: boolean, options?: ScheduleCallOptions): Promise<ScheduleDetail>;
  /** `GET /v1/schedules/:name/runs`: a page of runs, newest first. */
  listScheduleRuns(
    name: string,
    options?: ScheduleCallOptions & { limit?: number; cursor?: string },
  ): Promise<ScheduleRunPage>;
}

interface Call {
  method: 'GET' | 'POST' | 'DELETE';
  path: string;
  query?: URLSearchParams;
  body?: unknown;
  headers?: Record<string, string>;
  /** Seconds the server may hold the request (long-poll), added to the timeout. */
  holdSeconds?: number;
}

const DEFAULT_TIMEOUT_MS = 30_000;

/** Why fetch failed, in the words of the system call when there is one (`ECONNREFUSED`, `ENOTFOUND`). */
function networkReason(error: unknown): string {
  const cause = (error as { cause?: { code?: unknown; message?: unknown } }).cause;
  if (cause && typeof cause.code === 'string') return cause.code;
  if (cause && typeof cause.message === 'string') return cause.message;
  return error instanceof Error ? error.message : String(error);
}

async function errorFrom(response: Response): Promise<ApiRequestError> {
  const text = await response.text().catch(() => '');
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  const parsed = apiErrorSchema.safeParse(body);
  if (parsed.success) {
    const { code, message, problems } = parsed.data.error;
    return new ApiRequestError(response.status, code, message, problems);
  }
  const snippet = text.trim().slice(0, 200);
  return new ApiRequestError(
    response.status,
    `HTTP_${response.status}`,
    snippet === '' ? response.statusText || 'no body' : snippet,
  );
}

/** A typed client for the Quiver API (`/v1`): answers parsed with the contract's zod schemas. */
export function makeApiClient(options: ApiClientOptions): ApiClient {
  const baseUrl = options.baseUrl.replace(/\/+$/, '');
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const doFetch = options.fetch ?? fetch;

  async function send(call: Call): Promise<Response> {
    const url = `${baseUrl}${call.path}${call.query && call.query.size > 0 ? `?${call.query.toString()}` : ''}`;
    const limitMs = timeoutMs + (call.holdSeconds ?? 0) * 1000;
    const headers: Record<string, string> = {
      authorization: `Bearer ${options.apiKey}`,
      accept: 'application/json',
      ...call.headers,
    };
    if (call.body !== undefined) headers['content-type'] = 'application/json';
    try {
      return await doFetch(url, {
        method: call.method,
        headers,
        ...(call.body !== undefined ? { body: JSON.stringify(call.body) } : {}),
        signal: AbortSignal.timeout(limitMs),
      });
    } catch (error) {
      const name = (error as { name?: unknown }).name;
      const reason =
        name === 'TimeoutError' || name === 'AbortError'
          ? `no answer within ${limitMs / 1000} s`
          : networkReason(error);
      throw new ApiUnreachable(baseUrl, reason, { cause: error });
    }
  }

  async function call<S extends z.ZodType>(
    spec: Call,
    schema: S,
  ): Promise<{ value: z.output<S>; status: number }> {
    const response = await send(spec);
    if (!response.ok) throw await errorFrom(response);
    const url = `${spec.method} ${baseUrl}${spec.path}`;
    let body: unknown;
    try {
      body = await response.json();
    } catch (error) {
      throw new ApiResponseInvalid(url, `not JSON (${(error as Error).message})`);
    }
    const parsed = schema.safeParse(body);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new ApiResponseInvalid(
        url,
        `${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`,
      );
    }
    return { value: parsed.data, status: response.status };
  }

  const jobPath = (id: string) => `/v1/jobs/${encodeURIComponent(id)}`;
  const schedulePath = (name: string) => `/v1/schedules/${encodeURIComponent(name)}`;
  const tenantQuery = (options: ScheduleCallOptions = {}) =>
    new URLSearchParams(options.tenant === undefined ? {} : { tenant: options.tenant });

  return {
    baseUrl,
    async submitJob(spec, submitOptions = {}) {
      const { value, status } = await call(
        {
          method: 'POST',
          path: '/v1/jobs',
          body: spec,
          ...(submitOptions.idempotencyKey
            ? { headers: { 'idempotency-key': submitOptions.idempotencyKey } }
            : {}),
        },
        jobViewSchema,
      );
      return { job: value, created: status === 201 };
    },
    async getJob(id, getOptions = {}) {
      const wait = getOptions.waitSeconds ?? 0;
      const query = new URLSearchParams(wait > 0 ? { waitSeconds: String(wait) } : {});
      return (await call({ method: 'GET', path: jobPath(id), query, holdSeconds: wait }, jobViewSchema))
        .value;
    },
    async listJobs(listOptions = {}) {
      const query = new URLSearchParams();
      if (listOptions.status) query.set('status', listOptions.status);
      for (const label of listOptions.labels ?? []) query.append('label', label);
      if (listOptions.limit !== undefined) query.set('limit', String(listOptions.limit));
      if (listOptions.cursor) query.set('cursor', listOptions.cursor);
      return (await call({ method: 'GET', path: '/v1/jobs', query }, jobListSchema)).value;
    },
    async cancelJob(id) {
      return (await call({ method: 'POST', path: `${jobPath(id)}/cancel` }, jobViewSchema)).value;
    },
    async retryJob(id) {
      return (await call({ method: 'POST', path: `${jobPath(id)}/retry` }, jobViewSchema)).value;
    },
    async getResults(id) {
      return (await call({ method: 'GET', path: `${jobPath(id)}/results` }, jobResultsSchema)).value;
    },
    async getReport(id) {
      return (await call({ method: 'GET', path: `${jobPath(id)}/report` }, runReportSchema)).value;
    },
    async getDeliveries(id) {
      return (await call({ method: 'GET', path: `${jobPath(id)}/deliveries` }, deliveryListSchema)).value;
    },
    async listSchedules(scheduleOptions) {
      const query = tenantQuery(scheduleOptions);
      return (await call({ method: 'GET', path: '/v1/schedules', query }, scheduleListSchema)).value;
    },
    async getSchedule(name, scheduleOptions) {
      const query = tenantQuery(scheduleOptions);
      return (await call({ method: 'GET', path: schedulePath(name), query }, scheduleDetailSchema)).value;
    },
    async saveSchedule(definition, scheduleOptions) {
      const query = tenantQuery(scheduleOptions);
      const { value, status } = await call(
        { method: 'POST', path: '/v1/schedules', query, body: definition },
        scheduleViewSchema,
      );
      return { schedule: value, created: status === 201 };
    },
    async deleteSchedule(name, scheduleOptions) {
      const spec: Call = { method: 'DELETE', path: schedulePath(name), query: tenantQuery(scheduleOptions) };
      const response = await send(spec);
      if (!response.ok) throw await errorFrom(response);
      await response.body?.cancel();
    },
    async runSchedule(name, runOptions = {}) {
      const body = runOptions.at === undefined ? {} : { at: runOptions.at };
      const query = tenantQuery(runOptions);
      return (await call({ method: 'POST', path: `${schedulePath(name)}/run`, query, body }, jobViewSchema))
        .value;
    },
    async backfillSchedule(name, range, scheduleOptions) {
      const query = tenantQuery(scheduleOptions);
      return (
        await call(
          { method: 'POST', path: `${schedulePath(name)}/backfill`, query, body: range },
          backfillReplySchema,
        )
      ).value;
    },
    async setSchedulePaused(name, paused, scheduleOptions) {
      const path = `${schedulePath(name)}/${paused ? 'pause' : 'resume'}`;
      const query = tenantQuery(scheduleOptions);
      return (await call({ method: 'POST', path, query, body: {} }, scheduleDetailSchema)).value;
    },
    async listScheduleRuns(name, runsOptions = {}) {
      const query = tenantQuery(runsOptions);
      if (runsOptions.limit !== undefined) query.set('limit', String(runsOptions.limit));
      if (runsOptions.cursor !== undefined) query.set('cursor', runsOptions.cursor);
      return (await call({ method: 'GET', path: `${schedulePath(name)}/runs`, query }, scheduleRunPageSchema))
        .value;
    },
  };
}
