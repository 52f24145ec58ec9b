import type { Clock } from '../ports/clock.js';
import type { JobStore } from '../ports/job-store.js';
import { isTerminal } from '../job-state.js';

/** What {@link sweepExpiredJobs} needs; passed in, never global. */
export interface RetentionDeps {
  store: Pick<JobStore, 'listOldest' | 'delete'>;
  /** Removes a job's webhook deliveries and their attempts. */
  forgetDeliveries(jobId: string): Promise<void>;
  now: Clock;
}

export interface RetentionSweep {
  /** Jobs removed: succeeded, failed or cancelled longer ago than the retention period. */
  deleted: number;
  /** Jobs created before the cutoff that were looked at (kept ones included). */
  examined: number;
}

/**
 * Removes the records of jobs that ended (succeeded, failed, cancelled) more than `retentionMs` ago, with
 * their chunk sets, index entries, idempotency keys and webhook deliveries, so Redis holds what is current
 * rather than every job ever submitted. A job still running is kept however old. Outputs in storage are
 * the user's and are never touched. Walks the creation index from the oldest entry up to the cutoff (a job
 * that ended before the cutoff was created before it), `pageSize` records a round trip. Safe to run in
 * several processes at once (deleting a deleted job does nothing) and to stop through `signal`.
 */
export async function sweepExpiredJobs(
  deps: RetentionDeps,
  options: { retentionMs: number; pageSize?: number; signal?: AbortSignal },
): Promise<RetentionSweep> {
  const cutoff = deps.now().getTime() - options.retentionMs;
  const pageSize = options.pageSize ?? 200;
  let cursor: string | undefined;
  let deleted = 0;
  let examined = 0;
  do {
    const page = await deps.store.listOldest({
      createdBefore: new Date(cutoff),
      limit: pageSize,
      ...(cursor !== undefined && { cursor }),
    });
    for (const job of page.jobs) {
      // Stopping between jobs is safe: the next sweep picks up where this one left off.
      if (options.signal?.aborted) return { deleted, examined };
      examined += 1;
      const ended = Date.parse(job.finishedAt ?? job.updatedAt);
      if (!isTerminal(job.status) || !(ended < cutoff)) continue;
      // Deliveries first: were the process to stop between the two, the record is still there to be
      // found by the next sweep, which forgets the (now absent) deliveries again and deletes it.
      await deps.forgetDeliveries(job.id);
      await deps.store.delete(job.id);
      deleted += 1;
    }
    cursor = page.nextCursor ?? undefined;
  } while (cursor !== undefined);
  return { deleted, examined };
}
