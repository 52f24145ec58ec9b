import type { JobStatus } from '../schemas/job-record.js';
import { InvalidJobTransition } from './errors/invalid-job-transition.js';

/**
 * Every allowed move. `planning → finalizing` covers an input that plans zero chunks; `queued → failed`
 * covers a job refused before planning (e.g. its model cannot be fetched).
 */
const NEXT: Readonly<Record<JobStatus, readonly JobStatus[]>> = {
  queued: ['planning', 'cancelling', 'failed'],
  planning: ['running', 'finalizing', 'failed', 'cancelling'],
  running: ['finalizing', 'failed', 'cancelling'],
  finalizing: ['succeeded', 'failed'],
  cancelling: ['cancelled'],
  succeeded: [],
  failed: [],
  cancelled: [],
};

export function canTransition(from: JobStatus, to: JobStatus): boolean {
  return NEXT[from].includes(to);
}

/** Throws `InvalidJobTransition` (naming both states and the job when given) unless `from → to` is allowed. */
export function assertTransition(from: JobStatus, to: JobStatus, jobId?: string): void {
  if (!canTransition(from, to)) throw new InvalidJobTransition(from, to, jobId);
}

/** Succeeded, failed and cancelled jobs never change again. */
export function isTerminal(status: JobStatus): boolean {
  return NEXT[status].length === 0;
}
