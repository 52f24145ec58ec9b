import { IncompleteRead } from '../../jobs/ports/errors/incomplete-read.js';
import { StorageError } from '../../jobs/ports/errors/storage-error.js';
import { StorageUnavailable } from '../../jobs/ports/errors/storage-unavailable.js';

/** How a storage call is retried. Every field is optional; see `resolveRetryPolicy` for the defaults. */
export interface RetryOptions {
  /** Attempts in all, the first included. Default 6. */
  maxAttempts?: number;
  /** Backoff before retry n (1-based) is uniform in [0, min(maxDelayMs, baseDelayMs * 2^(n-1))]. Default 100. */
  baseDelayMs?: number;
  /** Upper bound of one backoff wait. Default 5000. */
  maxDelayMs?: number;
  /** Source of jitter in [0, 1); injectable so tests are deterministic. Default `Math.random`. */
  random?: () => number;
  /** Called before each backoff wait, e.g. to log `{ uri, attempt, delayMs, error }`. */
  onRetry?: (event: RetryEvent) => void;
}

export interface RetryEvent {
  uri: string;
  /** The attempt that just failed (1-based). */
  attempt: number;
  delayMs: number;
  error: unknown;
}

export interface RetryPolicy {
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  random: () => number;
  onRetry: ((event: RetryEvent) => void) | undefined;
}

export function resolveRetryPolicy(options: RetryOptions = {}): RetryPolicy {
  const maxAttempts = options.maxAttempts ?? 6;
  const baseDelayMs = options.baseDelayMs ?? 100;
  const maxDelayMs = options.maxDelayMs ?? 5_000;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1) {
    throw new RangeError(`retry maxAttempts must be an integer >= 1, got ${maxAttempts}`);
  }
  if (!(baseDelayMs >= 0) || !(maxDelayMs >= 0)) {
    throw new RangeError(`retry delays must be >= 0, got base ${baseDelayMs} ms and cap ${maxDelayMs} ms`);
  }
  return {
    maxAttempts,
    baseDelayMs,
    maxDelayMs,
    random: options.random ?? Math.random,
    onRetry: options.onRetry,
  };
}

/**
 * Full-jitter exponential backoff (the AWS architecture blog's "full jitter"): spreading retries uniformly
 * down to zero keeps many workers that failed together from retrying together.
 */
export function backoffDelayMs(retryNumber: number, policy: RetryPolicy): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, retryNumber - 1));
  return Math.floor(policy.random() * ceiling);
}

const transientErrorNames = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'ThrottledException',
  'RequestThrottled',
  'RequestThrottledException',
  'TooManyRequestsException',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'BandwidthLimitExceeded',
  'ServiceUnavailable',
  'InternalError',
  'RequestTimeout',
  'RequestTimeoutException',
  'TimeoutError',
  'IdleTimeout',
]);

const transientErrorCodes = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'EAI_AGAIN',
  'ERR_STREAM_PREMATURE_CLOSE',
  'UND_ERR_SOCKET',
  // Local file systems: too many open files / resource busy clear up on their own.
  'EMFILE',
  'ENFILE',
  'EAGAIN',
  'EBUSY',
]);

const transientMessage = /socket hang up|premature close|^aborted$|other side closed|read ECONNRESET/i;

/**
 * Whether a failure is worth retrying: throttling, 5xx, timeouts, dropped connections and short bodies.
 * Everything else — not found, access denied, other 4xx, our own classified errors, aborts — fails at once,
 * so a missing object costs one request, not six.
 */
export function isTransientError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error.name === 'AbortError') return false;
  if (error instanceof IncompleteRead) return true;
  if (error instanceof StorageError) return false;
  const fields = error as Error & {
    code?: unknown;
    Code?: unknown;
    $metadata?: { httpStatusCode?: number };
    $retryable?: unknown;
  };
  const status = fields.$metadata?.httpStatusCode;
  if (status !== undefined) {
    if (status === 429 || status === 408 || status >= 500) return true;
    if (status >= 400)
      return transientErrorNames.has(error.name) || transientErrorNames.has(String(fields.Code));
  }
  if (fields.$retryable !== undefined && fields.$retryable !== false) return true;
  if (transientErrorNames.has(error.name)) return true;
  if (typeof fields.code === 'string' && transientErrorCodes.has(fields.code)) return true;
  if (transientMessage.test(error.message)) return true;
  // Network errors often arrive wrapped (fetch-style `cause`, AggregateError from happy-eyeballs connects).
  if (error.cause !== undefined && error.cause !== error) return isTransientError(error.cause);
  if (error instanceof AggregateError) return error.errors.some((inner) => isTransientError(inner));
  return false;
}

/** The error an aborted call rejects with: a DOMException named `AbortError`, carrying the signal's reason. */
export function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error && reason.name === 'AbortError') return reason;
  const error = new DOMException('The storage operation was aborted', 'AbortError');
  Object.defineProperty(error, 'cause', { value: reason, enumerable: false });
  return error;
}

/** Waits `ms`, or rejects with an AbortError as soon as `signal` aborts; leaves no timer behind either way. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(abortError(signal));
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortError(signal as AbortSignal));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export interface RetryCall {
  /** Named in `StorageUnavailable` and in retry events. */
  uri: string;
  signal?: AbortSignal | undefined;
  /** Turns a final, non-transient failure into the error callers see (e.g. S3 NoSuchKey → StorageNotFound). */
  mapError?: (error: unknown) => unknown;
}

/**
 * Runs `operation` until it succeeds, fails for good, or runs out of attempts. Transient failures are
 * retried after a full-jitter backoff; exhausting them throws `StorageUnavailable` with the last failure as
 * `cause`. Aborting the signal stops everything promptly — a running attempt (which receives the signal)
 * and any backoff wait — with an AbortError.
 */
export async function withRetry<T>(
  policy: RetryPolicy,
  call: RetryCall,
  operation: (attempt: number) => Promise<T>,
): Promise<T> {
  const { signal } = call;
  for (let attempt = 1; ; attempt += 1) {
    if (signal?.aborted) throw abortError(signal);
    try {
      return await operation(attempt);
    } catch (error) {
      if (signal?.aborted) throw abortError(signal);
      if (!isTransientError(error)) throw call.mapError ? call.mapError(error) : error;
      if (attempt >= policy.maxAttempts) throw new StorageUnavailable(call.uri, attempt, { cause: error });
      const delayMs = backoffDelayMs(attempt, policy);
      policy.onRetry?.({ uri: call.uri, attempt, delayMs, error });
      await sleep(delayMs, signal);
    }
  }
}
