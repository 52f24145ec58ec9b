import type {
  FastifyBaseLogger,
  FastifyInstance,
  FastifyRequest,
  onRequestAsyncHookHandler,
  RawReplyDefaultExpression,
  RawRequestDefaultExpression,
  RawServerDefault,
} from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { RedisClient } from '../queue/redis-connection.js';
import type { Registry } from 'prom-client';
import { jobIdSchema } from '../../schemas/api.js';
import type { JobRecord } from '../../schemas/job-record.js';
import type { JobSpec } from '../../schemas/job-spec.js';
import type { Deliveries } from '../delivery/deliveries.js';
import { JobNotFound } from '../../jobs/ports/errors/job-not-found.js';
import type { JobStore } from '../../jobs/ports/job-store.js';
import type { PipelineQueues } from '../queue/queues.js';
import type { Schedules } from '../scheduler/schedules.js';
import type { Presigner } from '../storage/presign.js';
import type { Storage } from '../../jobs/ports/storage.js';
import type { Tenancy } from '../tenancy/tenancy.js';
import type { ApiKeys, Principal } from './api-keys.js';
import type { ApiOptionsWithDefaults } from './api-options.js';
import { Unauthenticated } from './errors/unauthenticated.js';
import type { JobWatcher } from '../queue/job-watcher.js';
import type { Clock } from '../../jobs/ports/clock.js';

/** What the API works on; everything is passed in, nothing is a hidden singleton. */
export interface ApiDeps {
  store: JobStore;
  /**
   * Queue operations of submit (`enqueuePlan`), cancel (`removeQueuedChunks`, `enqueueFinalize`) and
   * `GET /v1/queues` (`depths`).
   */
  queues: Pick<PipelineQueues, 'enqueuePlan' | 'enqueueFinalize' | 'removeQueuedChunks' | 'depths'> &
    /** What a retry clears of the earlier attempts (`POST /v1/jobs/:id/retry`); absent: nothing. */
    Partial<Pick<PipelineQueues, 'clearForRetry'>>;
  /**
   * Where manifests are read from; a retry also checks the model and the committed chunks' inputs through
   * it (it needs `stat` for that).
   */
  storage: Pick<Storage, 'read'> & Partial<Pick<Storage, 'stat'>>;
  /** Signs `s3://` result URLs; without one, results carry no `url`. */
  presigner?: Presigner;
  /** A job's webhook deliveries. */
  deliveries: Pick<Deliveries, 'list' | 'retry'>;
  /**
   * Redis for rate-limit counters and `/readyz`; duplicated once for the long-poll subscriber, which the
   * API closes with itself. The caller keeps and closes this connection.
   */
  redis: RedisClient;
  /** The deployment's hash-tagged key prefix (as the store's): the status channel and rate-limit keys use it. */
  prefix: string;
  keys: ApiKeys;
  /**
   * Nightly schedules and their BullMQ job schedulers (`makeSchedules`); without them the
   * `/v1/schedules` routes are not served.
   */
  schedules?: Schedules;
  /** Clock for result URL expiry times, schedules' next runs and run-now. Default `() => new Date()`. */
  now?: Clock;
  /**
   * Tenants' storage grants and limits (`QUIVER_TENANTS_FILE`): every URI a spec or schedule names is
   * checked against them at submission. Absent: no storage checks (embedding, tests); `quiver api` always
   * has one.
   */
  tenancy?: Tenancy;
  /**
   * The process's Prometheus registry (`makeMetricsRegistry`, with the queue series): served on
   * `GET /metrics`. Absent: no `/metrics` route.
   */
  metricsRegistry?: Registry;
}

/** The Fastify instance routes are declared on: zod schemas type their requests and replies. */
export type ZodFastify = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  ZodTypeProvider
>;

/** What route modules share. */
export interface ApiContext {
  deps: ApiDeps;
  options: ApiOptionsWithDefaults;
  /** The tenant's active-job limit (its `limits.maxActiveJobs`, else `QUIVER_API_MAX_ACTIVE_JOBS`). */
  maxActiveJobsFor: (tenant: string) => number | undefined;
  /** The store, refusing creates past the tenant's active-job limit. */
  limitedStore: JobStore;
  /** Throws `StorageForbidden` / `OutputOverlapsInput` for a spec the tenant may not run. */
  authorize: (spec: JobSpec, tenant: string) => Promise<void>;
  watcher: JobWatcher;
  /** Aborted when the API starts closing: long-polls answer at once. */
  closing: AbortSignal;
  now: Clock;
  /** The `/v1` gate (API key, tenant, auth-failure limit), for every route that needs a key. */
  authenticate: onRequestAsyncHookHandler;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the `/v1` authentication hook; absent on public routes. */
    principal?: Principal;
  }
}

/** Whether `principal` may see `record`: its own tenant's, or any with the admin scope. */
export function canSee(principal: Principal, record: JobRecord): boolean {
  return principal.admin || record.tenant === principal.tenant;
}

/**
 * The job `id` as `principal` may see it. Another tenant's job is reported exactly like a missing one
 * (`JobNotFound`, 404), so ids cannot be probed for existence; so is an id no job can have, before Redis
 * is asked (`<id>:chunks` would otherwise read another key of the job).
 */
export async function visibleJob(store: JobStore, principal: Principal, id: string): Promise<JobRecord> {
  if (!jobIdSchema.safeParse(id).success) throw new JobNotFound(id);
  const record = await store.get(id);
  if (record === undefined || !canSee(principal, record)) throw new JobNotFound(id);
  return record;
}

/** The principal the `/v1` hook authenticated; a route outside `/v1` asking for one is a wiring bug, answered 401. */
export function principalOf(request: FastifyRequest): Principal {
  if (request.principal === undefined) throw new Unauthenticated(false);
  return request.principal;
}
