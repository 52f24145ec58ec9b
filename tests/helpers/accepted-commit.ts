import { readAcceptedCommits } from '../../jobs/chunk-commits.js';
import type { OutputLayout } from '../../jobs/output-layout.js';
import type { ChunkCommit } from '../../schemas/chunk-commit.js';
import type { JobStore } from '../../jobs/ports/job-store.js';
import type { Storage } from '../../jobs/ports/storage.js';

/** The commit Redis accepted for chunk `index` of a job, read from storage as finalize reads it. */
export async function readAcceptedCommit(
  store: JobStore,
  storage: Storage,
  layout: OutputLayout,
  jobId: string,
  index: number,
): Promise<ChunkCommit> {
  const attempt = (await store.acceptedCommits(jobId)).get(index);
  if (attempt === undefined) throw new Error(`chunk ${index} of ${jobId} has no accepted commit`);
  const [commit] = await readAcceptedCommits(storage, layout, new Map([[index, attempt]]));
  return commit!;
}
