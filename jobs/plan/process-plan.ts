import { adoptableCommits } from '../chunk-commits.js';
import { isTerminal } from '../job-state.js';
import { outputLayout } from '../output-layout.js';
import { type PipelineDeps, forTenant } from '../pipeline-deps.js';
import { planInput } from './plan-input.js';

/** Input bytes per chunk besides the row target: keeps text chunks and small-file groups bounded. */
const CHUNK_BYTES = 256 * 1024 * 1024;

/**
 * Plans a job: lists its input, reads footers/boundaries, resolves the one model digest every chunk will
 * score with (the spec's pin, or what the URI serves now), and enqueues one score job per chunk. Chunks
 * whose commit marker is already in the output for the same spec, model and inputs (a resubmission after
 * Redis lost its state) are counted as done without being scored again (DESIGN invariant 3).
 */
export async function processPlan(deps: PipelineDeps, jobId: string, signal?: AbortSignal): Promise<void> {
  const record = await deps.store.get(jobId);
  if (!record || isTerminal(record.status) || record.status === 'cancelling') return;
  deps = forTenant(deps, record.tenant);
  const { store, storage } = deps;
  if (record.status === 'queued') await store.transition(jobId, 'planning');
  const spec = record.spec;
  const planned = await planInput(
    storage,
    deps.readers,
    { uri: spec.input.uri, format: spec.input.format, glob: spec.input.glob, header: spec.input.header },
    {
      chunkRows: spec.batch.chunkRows,
      chunkBytes: CHUNK_BYTES,
      maxChunks: deps.maxChunksPerJob,
      ...(deps.maxFooterBytes === undefined ? {} : { maxFooterBytes: deps.maxFooterBytes }),
      signal,
    },
  );
  // A re-run plan keeps the digest the first run recorded: chunks may already be scoring with it.
  const modelSha256 = record.modelSha256 ?? (await deps.scorers.resolve(spec.model, signal, storage));
  const inputRows = planned.every((c) => c.rows !== undefined)
    ? planned.reduce((n, c) => n + (c.rows ?? 0), 0)
    : undefined;
  await store.setPlan(jobId, {
    chunksTotal: planned.length,
    modelSha256,
    ...(inputRows === undefined ? {} : { inputRows }),
  });

  const layout = outputLayout(spec.output.uri, jobId, spec.output.format);
  const committed = new Set<number>();
  for (const commit of await adoptableCommits(deps, record, layout, planned, modelSha256, signal)) {
    const adopted = await store.adoptChunk(jobId, commit.index, {
      rows: commit.rows,
      rejected: commit.rejected,
      attempt: commit.attempt,
    });
    if (adopted.outcome !== 'stale') committed.add(commit.index);
  }
  for (const index of await store.committedChunks(jobId)) committed.add(index);
  const remaining = planned.filter((chunk) => !committed.has(chunk.index));
  deps.log.info({ jobId, chunks: planned.length, alreadyCommitted: committed.size, modelSha256 }, 'planned');

  if (remaining.length === 0) {
    await store.transition(jobId, 'finalizing');
    await deps.queue.enqueueFinalize(jobId);
    return;
  }
  await store.transition(jobId, 'running');
  await deps.queue.enqueueChunks(jobId, remaining, spec.priority);
}
