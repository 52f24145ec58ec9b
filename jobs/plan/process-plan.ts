import { readCommitMarkers } from '../commit-markers.js';
import { isTerminal } from '../job-state.js';
import { type ChunkCommit, outputLayout } from '../output-layout.js';
import type { PipelineDeps } from '../pipeline-deps.js';
import { planInput } from './plan-input.js';

/** Input bytes per chunk besides the row target: keeps text chunks and small-file groups bounded. */
const CHUNK_BYTES = 256 * 1024 * 1024;

/**
 * Plans a job: lists its input, reads footers/boundaries, and enqueues one score job per chunk. Chunks
 * whose commit marker is already in the output for the same spec (a resubmission after Redis lost its
 * state) are counted as done without being scored again (DESIGN invariant 3).
 */
export async function processPlan(deps: PipelineDeps, jobId: string, signal?: AbortSignal): Promise<void> {
  const { store, storage } = deps;
  const record = await store.get(jobId);
  if (!record || isTerminal(record.status) || record.status === 'cancelling') return;
  if (record.status === 'queued') await store.transition(jobId, 'planning');
  const spec = record.spec;
  const planned = await planInput(
    storage,
    { uri: spec.input.uri, format: spec.input.format, glob: spec.input.glob, header: spec.input.header },
    { chunkRows: spec.batch.chunkRows, chunkBytes: CHUNK_BYTES, signal },
  );
  await store.setChunksTotal(jobId, planned.length);

  const layout = outputLayout(spec.output.uri, jobId, spec.output.format);
  const committed = new Set<number>();
  for (const commit of await readCommitMarkers<ChunkCommit>(
    storage,
    layout.commits,
    record.specDigest,
    signal,
  )) {
    if (commit.index >= planned.length) continue;
    await store.commitChunk(jobId, commit.index, { rows: commit.rows, rejected: commit.rejected });
    committed.add(commit.index);
  }
  const remaining = planned.filter((chunk) => !committed.has(chunk.index));
  deps.log('planned', { jobId, chunks: planned.length, alreadyCommitted: committed.size });

  if (remaining.length === 0) {
    await store.transition(jobId, 'finalizing');
    await deps.enqueue.finalize(jobId);
    return;
  }
  await store.transition(jobId, 'running');
  await deps.enqueue.chunks(jobId, remaining, spec.priority);
}
