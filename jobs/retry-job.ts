import { createHash } from 'node:crypto';
import type { InputVersion } from '../schemas/chunk-commit.js';
import type { JobRecord } from '../schemas/job-record.js';
import { readAcceptedCommits } from './chunk-commits.js';
import { JobNotRetryable } from './errors/job-not-retryable.js';
import { RetryInputChanged } from './errors/retry-input-changed.js';
import { RetryModelChanged } from './errors/retry-model-changed.js';
import { canRetry } from './job-state.js';
import { jobOutputLayout } from './output-layout.js';
import { JobNotFound } from './ports/errors/job-not-found.js';
import { StorageNotFound } from './ports/errors/storage-not-found.js';
import type { JobStore, RetryJobOptions } from './ports/job-store.js';
import type { Storage } from './ports/storage.js';

export interface RetryDeps {
  store: JobStore;
  /** The job's tenant's storage (its grants): the model and the inputs are checked through it. */
  storage: Pick<Storage, 'read' | 'stat'>;
  /**
   * Drops what the job's earlier attempts left in the queues (finished chunk and finalize jobs keep their
   * deterministic ids, and would turn the new attempt's enqueues into no-ops).
   */
  clearQueued(jobId: string, chunksTotal: number): Promise<void>;
  /** Queues the new attempt's planning (under an id of its own: `attempt`). */
  enqueuePlan(jobId: string, priority: number, attempt: number): Promise<void>;
}

/**
 * Retries a failed or cancelled job: same id, same output folder, another attempt. Refused (409) when the
 * job is in another state (`JOB_NOT_RETRYABLE`), when its model no longer serves the bytes it was planned
 * with (`RETRY_MODEL_CHANGED`), or when an input object its committed chunks read changed since
 * (`RETRY_INPUT_CHANGED`) — either would mix two models or two inputs in one output (DESIGN invariant 8).
 * The move itself (`JobStore.retry`) is atomic and checks the tenant's active-jobs limit; the new attempt's
 * planning then adopts the committed chunks from their markers (same spec, model and input digests, every
 * object present: the check after Redis lost a job) and queues only the rest. Its end sends its webhook.
 */
export async function retryJob(deps: RetryDeps, jobId: string, o: RetryJobOptions = {}): Promise<JobRecord> {
  const record = await deps.store.get(jobId);
  if (record === undefined) throw new JobNotFound(jobId);
  if (!canRetry(record.status)) throw new JobNotRetryable(jobId, record.status);
  await assertModelUnchanged(deps.storage, record);
  await assertInputsUnchanged(deps, record);
  const retried = await deps.store.retry(jobId, o);
  await deps.clearQueued(jobId, record.progress.chunksTotal);
  await deps.enqueuePlan(jobId, record.spec.priority, retried.attempts ?? 1);
  return retried;
}

/** The model URI must still serve the bytes the job was planned with (nothing to compare before planning). */
async function assertModelUnchanged(storage: Pick<Storage, 'read'>, record: JobRecord): Promise<void> {
  const planned = record.modelSha256;
  if (planned === undefined) return;
  const uri = record.spec.model.uri;
  let found: string;
  try {
    found = createHash('sha256')
      .update(await storage.read(uri))
      .digest('hex');
  } catch (error) {
    if (!(error instanceof StorageNotFound)) throw error;
    found = 'missing';
  }
  if (found !== planned) throw new RetryModelChanged(uri, planned, found);
}

/**
 * Every input object a committed chunk read must still be there at the version it read (etag and size as
 * its commit marker recorded them). Objects no chunk committed from are planned afresh by the new attempt.
 */
async function assertInputsUnchanged(
  deps: Pick<RetryDeps, 'store' | 'storage'>,
  record: JobRecord,
): Promise<void> {
  const accepted = await deps.store.acceptedCommits(record.id);
  if (accepted.size === 0) return;
  const commits = await readAcceptedCommits(
    deps.storage,
    jobOutputLayout(record.spec.output, record.id),
    accepted,
  );
  const versions = new Map<string, InputVersion>(commits.flatMap((c) => c.inputs).map((i) => [i.uri, i]));
  for (const version of versions.values()) {
    let now;
    try {
      now = await deps.storage.stat(version.uri);
    } catch (error) {
      if (error instanceof StorageNotFound) throw new RetryInputChanged(version.uri, 'is gone');
      throw error;
    }
    if (now.size !== version.size)
      throw new RetryInputChanged(version.uri, `changed size (${version.size} → ${now.size} bytes)`);
    if (version.etag !== undefined && now.etag !== undefined && now.etag !== version.etag)
      throw new RetryInputChanged(version.uri, `changed (etag ${version.etag} → ${now.etag})`);
  }
}
