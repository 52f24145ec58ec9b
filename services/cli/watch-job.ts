import type { JobView } from '../../schemas/job-record.js';
import type { ApiClient } from './api-client.js';
import { ApiRequestError } from './errors/api-request-error.js';
import { ApiUnreachable } from './errors/api-unreachable.js';
import { terminalStatuses } from './exit-codes.js';

/** Options of {@link watchJob}. */
export interface WatchOptions {
  /**
   * Seconds each long-poll may wait for a status change: status changes show at once, progress (chunks,
   * rows/s, ETA) is refreshed at least this often. Default 2; the API caps it at 60.
   */
  intervalSeconds?: number;
  /** Give up after this many seconds, the job still going. Default: watch until it ends. */
  timeoutSeconds?: number;
  /** Called with every state seen, the first and the last included. */
  onUpdate?: (job: JobView) => void;
  /**
   * Failed polls in a row (API unreachable, 429, 5xx) tolerated before the watch fails, so an API restart
   * does not end a long watch. Default 5, with backoff from 1 s to 10 s between them.
   */
  maxRetries?: number;
  /** Clock and sleep, for tests. */
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export interface WatchResult {
  job: JobView;
  /** True when `timeoutSeconds` ran out before the job ended. */
  timedOut: boolean;
}

export const watchDefaults = { intervalSeconds: 2, maxRetries: 5 } as const;

/** A long-poll that comes back sooner than this without news waits out the rest (a server ignoring `waitSeconds`). */
const MIN_POLL_MS = 250;

/** A failure a watch retries: the API unreachable, rate-limited (429) or failing (5xx). */
export function isTransient(error: unknown): boolean {
  return (
    error instanceof ApiUnreachable ||
    (error instanceof ApiRequestError && (error.status === 429 || error.status >= 500))
  );
}

/** Follows a job with long-polls until it succeeds, fails or is cancelled (or `timeoutSeconds` runs out). */
export async function watchJob(
  client: ApiClient,
  id: string,
  options: WatchOptions = {},
): Promise<WatchResult> {
  const interval = Math.min(60, Math.max(0.1, options.intervalSeconds ?? watchDefaults.intervalSeconds));
  const maxRetries = options.maxRetries ?? watchDefaults.maxRetries;
  const now = options.now ?? (() => performance.now());
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const deadline = options.timeoutSeconds === undefined ? Infinity : now() + options.timeoutSeconds * 1000;

  let job = await client.getJob(id);
  options.onUpdate?.(job);
  let failures = 0;
  while (!terminalStatuses.has(job.status)) {
    const left = deadline - now();
    if (left <= 0) return { job, timedOut: true };
    const waitSeconds = Math.max(0.1, Math.min(interval, left / 1000));
    const started = now();
    let next: JobView;
    try {
      next = await client.getJob(id, { waitSeconds: Math.round(waitSeconds * 10) / 10 });
      failures = 0;
    } catch (error) {
      if (!isTransient(error) || failures >= maxRetries) throw error;
      failures += 1;
      await sleep(Math.min(10_000, 1000 * 2 ** (failures - 1)));
      continue;
    }
    const elapsed = now() - started;
    if (next.status === job.status && elapsed < MIN_POLL_MS) await sleep(MIN_POLL_MS - elapsed);
    job = next;
    options.onUpdate?.(job);
  }
  return { job, timedOut: false };
}
