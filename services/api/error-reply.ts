import { InvalidJobTransition } from '../../jobs/errors/invalid-job-transition.js';
import { JobNotRetryable } from '../../jobs/errors/job-not-retryable.js';
import { RetryInputChanged } from '../../jobs/errors/retry-input-changed.js';
import { RetryModelChanged } from '../../jobs/errors/retry-model-changed.js';
import type { ApiError } from '../../schemas/api.js';
import { JobSpecInvalid } from '../../schemas/errors/job-spec-invalid.js';
import { ScheduleInvalid } from '../../schemas/errors/schedule-invalid.js';
import { IdempotencyConflict } from '../../jobs/ports/errors/idempotency-conflict.js';
import { InvalidListCursor } from '../../jobs/ports/errors/invalid-list-cursor.js';
import { JobNotFound } from '../../jobs/ports/errors/job-not-found.js';
import { StoreFull } from '../../jobs/ports/errors/store-full.js';
import { TooManyActiveJobs } from '../../jobs/ports/errors/too-many-active-jobs.js';
import { OutputInUse } from '../../jobs/ports/errors/output-in-use.js';
import { OutputReplaced } from './errors/output-replaced.js';
import { storeFullOf } from '../queue/redis-connection.js';
import { StorageNotFound } from '../../jobs/ports/errors/storage-not-found.js';
import { OutputOverlapsInput } from '../tenancy/errors/output-overlaps-input.js';
import { PriorityForbidden } from '../tenancy/errors/priority-forbidden.js';
import { StorageForbidden } from '../tenancy/errors/storage-forbidden.js';
import { DeliveryNotFound } from './errors/delivery-not-found.js';
import { JobNotSucceeded } from './errors/job-not-succeeded.js';
import { MalformedBody } from './errors/malformed-body.js';
import { ManifestOutsideRoot } from './errors/manifest-outside-root.js';
import { ReportInvalid } from './errors/report-invalid.js';
import { ReportNotFound } from './errors/report-not-found.js';
import { NotReady } from './errors/not-ready.js';
import { RateLimited } from './errors/rate-limited.js';
import { RequestInvalid } from './errors/request-invalid.js';
import { RouteNotFound } from './errors/route-not-found.js';
import { ScheduleNotFound } from './errors/schedule-not-found.js';
import { TenantForbidden } from './errors/tenant-forbidden.js';
import { AdminRequired } from './errors/admin-required.js';
import { Unauthenticated } from './errors/unauthenticated.js';

/** What the API answers for an error: status, headers and an `apiErrorSchema` body. */
export interface ErrorReply {
  statusCode: number;
  headers: Record<string, string>;
  body: ApiError;
}

export interface ErrorReplyOptions {
  /** `Retry-After` of a 429 for too many active jobs. */
  activeJobsRetryAfterSeconds: number;
}

type ErrorClass = abstract new (...args: never[]) => Error;

/** The status of each error the API expects; its `code` property is the body's code. */
const statusOf: ReadonlyArray<readonly [ErrorClass, number]> = [
  [JobSpecInvalid, 400],
  [ScheduleInvalid, 400],
  [RequestInvalid, 400],
  [InvalidListCursor, 400],
  [MalformedBody, 400],
  [OutputOverlapsInput, 400],
  [Unauthenticated, 401],
  [TenantForbidden, 403],
  [AdminRequired, 403],
  [StorageForbidden, 403],
  [PriorityForbidden, 403],
  [JobNotFound, 404],
  [DeliveryNotFound, 404],
  [ScheduleNotFound, 404],
  [RouteNotFound, 404],
  [StorageNotFound, 404],
  [ReportNotFound, 404],
  [IdempotencyConflict, 409],
  [InvalidJobTransition, 409],
  [JobNotRetryable, 409],
  [RetryInputChanged, 409],
  [RetryModelChanged, 409],
  [JobNotSucceeded, 409],
  [ManifestOutsideRoot, 409],
  [OutputInUse, 409],
  [OutputReplaced, 409],
  [TooManyActiveJobs, 429],
  [RateLimited, 429],
  [NotReady, 503],
  [StoreFull, 503],
  // Our own file is wrong: a server error, but one that names the object rather than an opaque INTERNAL.
  [ReportInvalid, 500],
];

/** Fastify's own 4xx errors (bad JSON, too large, wrong content type, bad URL), renamed to stable codes. */
const frameworkCodes: Record<string, string> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'BAD_CONTENT_LENGTH',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'MALFORMED_BODY',
  FST_ERR_CTP_INVALID_JSON_BODY: 'MALFORMED_BODY',
  FST_ERR_BAD_URL: 'BAD_URL',
};

const byStatus: Record<number, string> = {
  400: 'BAD_REQUEST',
  413: 'PAYLOAD_TOO_LARGE',
  414: 'URI_TOO_LONG',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  431: 'HEADERS_TOO_LARGE',
};

/** The message without the `CODE: ` our error classes start with: the code has its own field. */
function messageOf(error: Error & { code?: unknown }): string {
  const prefix = typeof error.code === 'string' ? `${error.code}: ` : '';
  const message =
    prefix !== '' && error.message.startsWith(prefix) ? error.message.slice(prefix.length) : error.message;
  return message.split('\n')[0] ?? message;
}

function problemsOf(error: Error): ApiError['error']['problems'] {
  if (error instanceof JobSpecInvalid || error instanceof ScheduleInvalid || error instanceof RequestInvalid)
    return [...error.problems];
  if (error instanceof InvalidListCursor) return [{ path: 'query.cursor', message: error.message }];
  if (
    error instanceof OutputOverlapsInput ||
    error instanceof PriorityForbidden ||
    (error instanceof StorageForbidden && error.path !== undefined)
  )
    return [{ path: error.path ?? '(root)', message: messageOf(error).replace(`${error.path}: `, '') }];
  return undefined;
}

function headersOf(error: Error, options: ErrorReplyOptions): Record<string, string> {
  if (error instanceof Unauthenticated) {
    return {
      'www-authenticate': error.keyPresented
        ? 'Bearer realm="quiver", error="invalid_token"'
        : 'Bearer realm="quiver"',
    };
  }
  if (error instanceof RateLimited) return { 'retry-after': String(error.retryAfterSeconds) };
  if (error instanceof TooManyActiveJobs)
    return { 'retry-after': String(options.activeJobsRetryAfterSeconds) };
  return {};
}

/**
 * The reply for an error: an expected one gets its status and stable code; a framework 4xx (malformed
 * JSON, body too large, bad URL) its status and a stable code; Redis refusing a write at `maxmemory` is
 * a 503 `STORE_FULL`; anything else is a 500 `INTERNAL` whose message reveals nothing (the caller logs the
 * real error).
 */
export function errorReply(thrown: unknown, options: ErrorReplyOptions): ErrorReply {
  const error = storeFullOf(thrown) ?? thrown;
  if (error instanceof Error) {
    const known = statusOf.find(([type]) => error instanceof type);
    if (known !== undefined) {
      const code = String((error as { code?: unknown }).code);
      const problems = problemsOf(error);
      return {
        statusCode: known[1],
        headers: headersOf(error, options),
        body: { error: { code, message: messageOf(error), ...(problems ? { problems } : {}) } },
      };
    }
    const { statusCode, code } = error as { statusCode?: unknown; code?: unknown };
    if (typeof statusCode === 'number' && statusCode >= 400 && statusCode < 500) {
      const stable = (typeof code === 'string' ? frameworkCodes[code] : undefined) ?? byStatus[statusCode];
      return {
        statusCode,
        headers: {},
        body: { error: { code: stable ?? 'BAD_REQUEST', message: messageOf(error) } },
      };
    }
  }
  return {
    statusCode: 500,
    headers: {},
    body: { error: { code: 'INTERNAL', message: 'internal error; the server log has the details' } },
  };
}
