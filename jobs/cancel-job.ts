import { isTerminal } from './job-state.js';
import type { JobRecord } from '../schemas/job-record.js';
import type { JobStore } from './ports/job-store.js';

export interface CancelDeps {
  store: JobStore;
  /** Removes the job's queued (not running) chunk jobs; returns how many. */
  removeQueuedChunks(jobId: string, chunksTotal: number): Promise<number>;
  enqueueFinalize(jobId: string): Promise<void>;
}

/**
 * Cancels a job: it moves to `cancelling`, its queued chunks are removed, and finalize moves it to
 * `cancelled` without writing `_SUCCESS`; a chunk already running finishes its own part (so every part
 * present is whole) but hands nothing on. Cancelling a finished job changes nothing.
 */
export async function cancelJob(deps: CancelDeps, jobId: string): Promise<JobRecord | undefined> {
  const record = await deps.store.get(jobId);
  if (!record || isTerminal(record.status)) return record;
  const cancelling = await deps.store.transition(jobId, 'cancelling');
  await deps.removeQueuedChunks(jobId, cancelling.progress.chunksTotal);
  await deps.enqueueFinalize(jobId);
  return cancelling;
}
