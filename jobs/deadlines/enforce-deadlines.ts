import type { JobRecord } from '../../schemas/job-record.js';
import type { Clock } from '../ports/clock.js';
import type { JobStore } from '../ports/job-store.js';
import type { Log } from '../ports/log.js';
import type { PipelineQueue } from '../ports/pipeline-queue.js';
import { deadlineVerdict } from './job-deadlines.js';

export interface EnforceDeadlinesDeps {
  store: JobStore;
  /** Queued chunks of a timed-out job are dropped (running ones stop as their job leaves `running`). */
  queue: Pick<PipelineQueue, 'removeQueuedChunks'>;
  /** Called with every job a deadline ended (to queue its `job.failed` / `job.expired` webhook). */
  onTerminal?: (record: JobRecord) => Promise<void>;
  now: Clock;
  log: Log;
}

/**
 * One pass over the due deadline entries (`timeoutSeconds`, `expiresAfterSeconds`): each job past its
 * deadline ends in one compare-and-move (`JobStore.enforceDeadline`), the others are looked at again when
 * their deadline can next fall. Entries live in the store, so a deadline outlives every process; any number
 * of processes may sweep at once (the move happens once). Returns how many jobs it ended.
 */
export async function enforceDeadlines(deps: EnforceDeadlinesDeps, limit = 100): Promise<number> {
  const nowMs = deps.now().getTime();
  let ended = 0;
  for (const entry of await deps.store.dueDeadlines(new Date(nowMs), limit)) {
    const record = await deps.store.get(entry.jobId);
    if (record === undefined || (record.attempts ?? 1) !== entry.attempt) {
      await deps.store.dropDeadline(entry);
      continue;
    }
    const verdict = deadlineVerdict(record, nowMs);
    if (verdict.kind === 'drop') {
      await deps.store.dropDeadline(entry);
      continue;
    }
    if (verdict.kind === 'later') {
      await deps.store.rescheduleDeadline(entry, new Date(verdict.atMs));
      continue;
    }
    const moved = await deps.store.enforceDeadline(entry, verdict.move);
    if (moved === undefined) {
      // It moved on in between (started, finished, retried): looked at again at once, from its new state.
      await deps.store.rescheduleDeadline(entry, new Date(nowMs));
      continue;
    }
    ended += 1;
    deps.log.info({ jobId: moved.id, status: moved.status, code: moved.error?.code }, 'job deadline reached');
    if (moved.status === 'failed')
      await deps.queue.removeQueuedChunks(moved.id, Math.max(moved.progress.chunksTotal, 0));
    await deps.onTerminal?.(moved);
  }
  return ended;
}
