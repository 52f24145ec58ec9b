import type { JobStatus } from '../schemas/job-record.js';
import { InvalidJobTransition } from './errors/invalid-job-transition.js';

/**
 * Every allowed move. `planning → finalizing` covers an input that plans zero chunks; `queued → failed`
 * covers a job refused before planning (e.g. its model cannot be fetched); `queued → expired` a job not
 * started within its `expiresAfterSeconds`. `planning`/`running → failed` also covers `JOB_TIMEOUT`.
 */
const NEXT: Readonly<Record<JobStatus, readonly JobStatus[]>> = {
  queued: ['planning', 'cancelling', 'failed', 'expired'],
  planning: ['running', 'finalizing', 'failed', 'cancelling'],
  running: ['finalizing', 'failed', 'cancelling'],
  finalizing: ['succeeded', 'failed'],
  cancelling: ['cancelled'],
  succeeded: [],
  failed: [],
  cancelled: [],
  expired: [],
};

/**
 * The terminal states a retry (`POST /v1/jobs/:id/retry`) takes back to `queued`: only it makes these
 * moves, never a plain transition, so terminal states stay final for every processor.
 */
const RETRYABLE: readonly JobStatus[] = ['failed', 'cancelled'];

/** Whether a job in `status` may be retried. */
export function canRetry(status: JobStatus): boolean {
  return RETRYABLE.includes(status);
}

/** The states a retry starts from, for the atomic move (the Redis store passes them to its script). */
export const retryableStatuses: readonly JobStatus[] = RETRYABLE;

export function canTransition(from: JobStatus, to: JobStatus): boolean {
  return NEXT[from].includes(to);
}

/** Throws `InvalidJobTransition` (naming both states and the job when given) unless `from → to` is allowed. */
export function assertTransition(from: JobStatus, to: JobStatus, jobId?: string): void {
  if (!canTransition(from, to)) throw new InvalidJobTransition(from, to, jobId);
}

/** Succeeded, failed, cancelled and expired jobs never change again (except by a retry). */
export function isTerminal(status: JobStatus): boolean {
  return NEXT[status].length === 0;
}
