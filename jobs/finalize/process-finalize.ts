import { readCommitMarkers } from '../commit-markers.js';
import { isTerminal } from '../job-state.js';
import { type ChunkCommit, outputLayout } from '../output-layout.js';
import type { PipelineDeps } from '../pipeline-deps.js';
import type { Manifest } from '../../schemas/manifest.js';

/** Some committed parts are not visible yet; the finalize job retries. */
export class CommitsIncomplete extends Error {
  override readonly name = 'CommitsIncomplete';
  readonly code = 'COMMITS_INCOMPLETE';
}

/** More rows were refused than the job allows: it fails, with no `_SUCCESS`. */
export class RejectedOverLimit extends Error {
  override readonly name = 'RejectedOverLimit';
  readonly code = 'ROWS_REJECTED_OVER_LIMIT';
}

/**
 * Finishes a job whose chunks are all committed: checks every chunk has its commit marker (for this
 * spec), enforces `maxInvalidFraction`, writes `_manifest.json` and only then `_SUCCESS`. Readers trust
 * only the manifest (DESIGN invariant 2); input rows = output rows + rejected rows.
 */
export async function processFinalize(
  deps: PipelineDeps,
  jobId: string,
  signal?: AbortSignal,
): Promise<void> {
  const { store, storage } = deps;
  const record = await store.get(jobId);
  if (!record) return;
  if (isTerminal(record.status)) {
    // A finalize that crashed after its transition is re-run: announce the outcome again (deduplicated).
    await deps.onTerminal?.(record);
    return;
  }
  if (record.status === 'cancelling') {
    await store.transition(jobId, 'cancelled');
    deps.log('job cancelled', { jobId, chunksDone: record.progress.chunksDone });
    return;
  }
  const spec = record.spec;
  const layout = outputLayout(spec.output.uri, jobId, spec.output.format);
  const commits = new Map<number, ChunkCommit>();
  for (const commit of await readCommitMarkers<ChunkCommit>(
    storage,
    layout.commits,
    record.specDigest,
    signal,
  )) {
    commits.set(commit.index, commit);
  }
  const total = record.progress.chunksTotal;
  const missing = Array.from({ length: total }, (_, i) => i).filter((i) => !commits.has(i));
  if (missing.length > 0) {
    throw new CommitsIncomplete(
      `chunks ${missing.slice(0, 10).join(', ')}${missing.length > 10 ? ', …' : ''} of ${jobId} have no commit marker yet`,
    );
  }
  const parts = [...commits.values()].sort((a, b) => a.index - b.index);
  const rowsScored = parts.reduce((n, p) => n + p.rows, 0);
  const rowsRejected = parts.reduce((n, p) => n + p.rejected, 0);
  const inputRows = rowsScored + rowsRejected;
  if (inputRows > 0 && rowsRejected / inputRows > spec.errors.maxInvalidFraction) {
    const error = new RejectedOverLimit(
      `${rowsRejected} of ${inputRows} rows were refused (${((100 * rowsRejected) / inputRows).toFixed(2)}%), over maxInvalidFraction ${spec.errors.maxInvalidFraction}; see ${layout.root}/rejected/`,
    );
    await store.transition(jobId, 'failed', {
      error: { code: error.code, message: error.message, uri: `${layout.root}/rejected/` },
    });
    return;
  }
  const manifest: Manifest = {
    jobId,
    name: spec.name,
    specDigest: record.specDigest,
    modelSha256: parts[0]?.modelSha256 ?? record.modelSha256,
    format: spec.output.format,
    root: layout.root,
    inputRows,
    rowsScored,
    rowsRejected,
    parts: parts.flatMap((p) =>
      p.segments.map((s) => ({ index: p.index, uri: s.part, rows: s.rows, bytes: s.bytes })),
    ),
    rejected: parts.flatMap((p) =>
      p.segments.flatMap((s) =>
        s.rejectedUri ? [{ index: p.index, uri: s.rejectedUri, rows: s.rejected }] : [],
      ),
    ),
    timings: {
      scoringSeconds: parts.reduce((n, p) => n + p.seconds, 0),
      createdAt: record.createdAt,
      finishedAt: new Date().toISOString(),
    },
  };
  await storage.write(layout.manifest, new TextEncoder().encode(JSON.stringify(manifest, null, 2)), {
    signal,
    contentType: 'application/json',
  });
  await storage.write(layout.success, new Uint8Array(), { signal });
  await store.transition(jobId, 'succeeded', {
    manifestUri: layout.manifest,
    modelSha256: manifest.modelSha256,
  });
  deps.log('job succeeded', { jobId, rowsScored, rowsRejected, parts: parts.length });
}
