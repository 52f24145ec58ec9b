import type { ChunkDescriptor } from '../../schemas/chunk-descriptor.js';
import type { JobRecord } from '../../schemas/job-record.js';
import { forChallenger } from '../for-challenger.js';
import type { ModelDigests } from '../chunk-commits.js';
import { deviceClassOf } from '../../schemas/job-spec.js';
import { isPermanent } from '../../schemas/errors/quiver-error.js';
import { adoptableCommits } from '../chunk-commits.js';
import { jobErrorOf } from '../job-error.js';
import { isTerminal } from '../job-state.js';
import { type OutputLayout, jobOutputLayout } from '../output-layout.js';
import { type PipelineDeps, forTenant } from '../pipeline-deps.js';
import { finishIfLast } from '../score/process-score.js';
import { streamInput } from './plan-input.js';

/** Input bytes per chunk besides the row target: keeps text chunks and small-file groups bounded. */
const CHUNK_BYTES = 256 * 1024 * 1024;

/**
 * Plans a job: resolves the one model digest every chunk will score with (the spec's pin, or what the URI
 * serves now), lists its input, reads footers/boundaries, and enqueues one score job per chunk.
 *
 * Planning streams: the job moves to `running` with its first chunks and the rest are queued as the scan
 * finds them, so a 10 GB CSV starts scoring after one chunk's worth of scan. Until the plan is complete,
 * `chunksTotal` stays above any count of done chunks, so no commit hands the job to finalize early; at the
 * end planning records the true total and, if every chunk already committed, hands the job on itself.
 *
 * Chunks whose commit marker is already in the output for the same spec, model and inputs (a resubmission
 * after Redis lost its state) are counted as done without being scored again (DESIGN invariant 3).
 * Adoption is accepted only while the job is `planning`, and needs the whole plan, so such a job plans
 * everything first, adopts, then queues the rest.
 */
export async function processPlan(deps: PipelineDeps, jobId: string, signal?: AbortSignal): Promise<void> {
  let record = await deps.store.get(jobId);
  if (!record || isTerminal(record.status) || record.status === 'cancelling') return;
  deps = forTenant(deps, record.tenant);
  if (record.status === 'queued') record = await deps.store.transition(jobId, 'planning');
  const spec = record.spec;
  // Resolved once the plan has its first chunk (a plan that fails before then never reads the model); a
  // re-run plan keeps the digest the first run recorded: chunks may already be scoring with it.
  let digests: ModelDigests | undefined =
    record.modelSha256 === undefined
      ? undefined
      : {
          modelSha256: record.modelSha256,
          ...(record.challengerSha256 ? { challengerSha256: record.challengerSha256 } : {}),
        };
  const modelSha256 = async (): Promise<ModelDigests> =>
    (digests ??= await resolveDigests(deps, spec, signal));
  const layout = jobOutputLayout(spec.output, jobId);
  // An exact location still holds the previous run (its manifest stays the one readers follow until this
  // run's replaces it); `_SUCCESS` goes now, so a reader that waits for it does not list a mix meanwhile.
  if (layout.mode === 'exact') await deps.storage.delete(layout.success, { signal });
  const stream = streamInput(
    deps.storage,
    deps.readers,
    {
      uri: spec.input.uri,
      format: spec.input.format,
      glob: spec.input.glob,
      header: spec.input.header,
      hivePartitioning: spec.input.hivePartitioning ?? false,
    },
    {
      chunkRows: spec.batch.chunkRows,
      chunkBytes: CHUNK_BYTES,
      maxChunks: deps.maxChunksPerJob,
      ...(deps.maxFooterBytes === undefined ? {} : { maxFooterBytes: deps.maxFooterBytes }),
      signal,
    },
  );
  // Markers can be adopted only while planning; a job already running (a re-run of a streamed plan) has
  // Redis' own count of its commits.
  if (record.status === 'planning' && (await holdsCommitMarkers(deps, layout, signal))) {
    const planned = await collected(stream);
    await planWhole(deps, record, layout, planned, await modelSha256(), signal);
    return;
  }
  // Only text needs a scan to plan; footers and sizes are quick, so Parquet and Arrow plans are checked
  // whole (TOO_MANY_CHUNKS, footer limits) before the first chunk is queued.
  const text = spec.input.format === 'csv' || spec.input.format === 'jsonl';
  await planStreaming(deps, record, text ? stream : oneBatch(stream), modelSha256);
}

/** Each model's pin (verified) or what its URI serves now; a challenger's failure names it. */
async function resolveDigests(
  deps: PipelineDeps,
  spec: JobRecord['spec'],
  signal: AbortSignal | undefined,
): Promise<ModelDigests> {
  const modelSha256 = await deps.scorers.resolve(spec.model, signal, deps.storage);
  if (!spec.challengers) return { modelSha256 };
  const challengerSha256: Record<string, string> = {};
  for (const challenger of spec.challengers) {
    challengerSha256[challenger.name] = await deps.scorers
      .resolve(challenger.model, signal, deps.storage)
      .catch((error: unknown) => {
        throw forChallenger(error, challenger.name);
      });
  }
  return { modelSha256, challengerSha256 };
}

async function collected(batches: AsyncIterable<ChunkDescriptor[]>): Promise<ChunkDescriptor[]> {
  const chunks: ChunkDescriptor[] = [];
  for await (const batch of batches) chunks.push(...batch);
  return chunks;
}

async function* oneBatch(batches: AsyncIterable<ChunkDescriptor[]>): AsyncGenerator<ChunkDescriptor[]> {
  const chunks = await collected(batches);
  if (chunks.length > 0) yield chunks;
}

/** Whether the job's output folder holds any chunk marker (of an earlier life of this job). */
async function holdsCommitMarkers(
  deps: PipelineDeps,
  layout: OutputLayout,
  signal: AbortSignal | undefined,
): Promise<boolean> {
  for await (const object of deps.storage.list(layout.commits, { signal })) {
    if (!object.uri.slice(layout.commits.length).includes('/')) return true;
  }
  return false;
}

/** Rows of every chunk, while every chunk's count is known. */
function inputRowsOf(chunks: readonly ChunkDescriptor[], sum: number | undefined = 0): number | undefined {
  for (const chunk of chunks)
    sum = sum === undefined || chunk.rows === undefined ? undefined : sum + chunk.rows;
  return sum;
}

/** The whole plan at once: records it, adopts what the output already holds, queues the rest. */
async function planWhole(
  deps: PipelineDeps,
  record: JobRecord,
  layout: OutputLayout,
  planned: readonly ChunkDescriptor[],
  digests: ModelDigests,
  signal: AbortSignal | undefined,
): Promise<void> {
  const { store } = deps;
  const jobId = record.id;
  const inputRows = inputRowsOf(planned);
  const { modelSha256 } = digests;
  await store.setPlan(jobId, {
    chunksTotal: planned.length,
    ...digests,
    ...(inputRows === undefined ? {} : { inputRows }),
  });
  const committed = new Set<number>();
  for (const commit of await adoptableCommits(deps, record, layout, planned, digests, signal)) {
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
  await deps.queue.enqueueChunks(jobId, remaining, record.spec.priority, deviceClassOf(record.spec));
}

/**
 * Queues chunks batch by batch as planning finds them. Invariants:
 * - chunks are queued only once the job is `running` (an attempt on a job in any other state stops);
 * - before each batch is queued, `chunksTotal` is set above every chunk index queued so far and never below
 *   what an earlier run of this plan set (it may have queued, and committed, chunks up to there), so done
 *   chunks stay fewer than `chunksTotal` and no commit finishes the job on a partial plan;
 * - the true total (and input rows) is set only after the last batch is queued; then, as the last commit
 *   may have come before it, planning finishes the job itself when every chunk is done (the transition
 *   to `finalizing` happens once, and finalize's enqueue is idempotent).
 * A re-run plans the same chunks (same input versions), queues the ones not committed, and ends the same.
 */
async function planStreaming(
  deps: PipelineDeps,
  record: JobRecord,
  plan: AsyncIterable<ChunkDescriptor[]>,
  resolveModel: () => Promise<ModelDigests>,
): Promise<void> {
  const { store } = deps;
  let digests: ModelDigests | undefined;
  const jobId = record.id;
  const committed = new Set(await store.committedChunks(jobId));
  const floor = record.status === 'planning' ? 0 : record.progress.chunksTotal;
  let planned = 0;
  let inputRows: number | undefined = 0;
  try {
    for await (const batch of plan) {
      planned += batch.length;
      inputRows = inputRowsOf(batch, inputRows);
      digests ??= await resolveModel();
      await store.setPlan(jobId, { chunksTotal: Math.max(planned + 1, floor), ...digests });
      const now = await store.get(jobId);
      if (now?.status === 'planning') await store.transition(jobId, 'running');
      // Cancelled, failed (or gone) while planning: the rest of the plan would never be scored.
      else if (now?.status !== 'running') return;
      const remaining = batch.filter((chunk) => !committed.has(chunk.index));
      if (remaining.length > 0)
        await deps.queue.enqueueChunks(jobId, remaining, record.spec.priority, deviceClassOf(record.spec));
    }
  } catch (error) {
    // Bad input found part-way (TOO_MANY_CHUNKS, an unterminated quote): the job fails now, and the chunks
    // already queued go with it (running ones stop at their next check). A transient error leaves them for
    // the re-run, which plans the same chunks.
    if (planned > 0 && isPermanent(error)) {
      await store.transition(jobId, 'failed', { error: jobErrorOf(error) }).catch(() => undefined);
      await deps.queue.removeQueuedChunks(jobId, Math.max(planned + 1, floor));
    }
    throw error;
  }
  // A plan of no chunks finalizes with the digest recorded all the same.
  digests ??= await resolveModel();
  await store.setPlan(jobId, {
    chunksTotal: planned,
    ...digests,
    ...(inputRows === undefined ? {} : { inputRows }),
  });
  deps.log.info(
    { jobId, chunks: planned, alreadyCommitted: committed.size, modelSha256: digests.modelSha256 },
    'planned',
  );
  const after = await store.get(jobId);
  if (!after) return;
  if (after.status === 'planning') {
    // Nothing to score (e.g. header-only CSVs): the job finalizes with no parts.
    await store.transition(jobId, 'finalizing');
    await deps.queue.enqueueFinalize(jobId);
    return;
  }
  await finishIfLast(deps, jobId, after.progress);
}
