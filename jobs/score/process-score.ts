import type { RecordBatch } from 'apache-arrow';
import type { ReadPartOptions } from '../../services/formats/format-reader.js';
import type { ModelMetadata } from '../../services/scoring/inference-host.js';
import type { ChunkCommit } from '../../schemas/chunk-commit.js';
import type { ChunkDescriptor } from '../../schemas/chunk-descriptor.js';
import type { JobRecord } from '../../schemas/job-record.js';
import type { ModelSpec } from '../../schemas/model-spec.js';
import { BadDataError } from '../../services/formats/errors/bad-data-error.js';
import { makeWriter } from '../../services/formats/writers/make-writer.js';
import { FeatureMappingError } from '../../services/scoring/errors/feature-mapping-error.js';
import { prepareScoring } from '../../services/scoring/open-scorer.js';
import { type PinnedStorage, pinnedStorage } from '../../services/storage/pinned-storage.js';
import { acceptChunk, chunkInputDigest, newAttemptId, readAcceptedSegments } from '../chunk-commits.js';
import { RowsRejectedOverLimit } from '../errors/rows-rejected-over-limit.js';
import { outputLayout } from '../output-layout.js';
import { type PipelineDeps, forTenant } from '../pipeline-deps.js';
import { type SkippedRecord, makeChunkCheckpoint } from './chunk-checkpoint.js';
import { AttemptStopped } from './errors/attempt-stopped.js';

/**
 * Every batch of every part of a chunk, in order, each object read at the version planning saw (a changed
 * one throws `INPUT_CHANGED`). With `onSkipped`, records that cannot be decoded are skipped and reported
 * with their place in the chunk's row stream.
 */
async function* readChunk(
  deps: PipelineDeps,
  storage: PinnedStorage,
  record: JobRecord,
  chunk: ChunkDescriptor,
  signal?: AbortSignal,
  projection?: Pick<ReadPartOptions, 'columns' | 'pack'>,
  onSkipped?: (skipped: SkippedRecord) => void,
): AsyncGenerator<RecordBatch> {
  const reader = deps.readers.readerFor(chunk.format);
  let rowsBefore = 0;
  for (const part of chunk.parts) {
    const partStart = rowsBefore;
    const onInvalidRecord = onSkipped
      ? (invalid: SkippedRecord['invalid']) => onSkipped({ position: partStart + invalid.rowInPart, invalid })
      : undefined;
    for await (const batch of reader.readPart(storage, part, {
      signal,
      header: record.spec.input.header,
      ...projection,
      ...(onInvalidRecord ? { onInvalidRecord } : {}),
    })) {
      rowsBefore += batch.numRows;
      yield batch;
    }
    // Decoders that read a local file in place bypass `read`: the version is checked once more after it.
    await storage.verify(part.uri, { signal });
  }
}

/**
 * For Parquet input whose model inputs are all mapped from named columns into float32 tensors, the decoder
 * reads only the passthrough columns and packs each input's columns into one row-major float32 array
 * column (DuckDB does the transposition in native code, off the JavaScript thread); the engine then copies
 * rows straight into its tensors. Measured on the tabular MLP: see README (bench:score --layout packed).
 */
export function packFeatures(
  chunk: Pick<ChunkDescriptor, 'format'>,
  passthrough: string[],
  model: ModelSpec,
  metadata: ModelMetadata,
):
  | { read: Pick<ReadPartOptions, 'columns' | 'pack'>; model: ModelSpec; packed: Record<string, string[]> }
  | undefined {
  if (chunk.format !== 'parquet' || !model.inputs) return undefined;
  const entries = Object.entries(model.inputs);
  const float32 = (name: string) =>
    metadata.inputs.some((i) => i.name === name && i.isTensor && i.type === 'float32');
  if (entries.length !== metadata.inputs.length) return undefined;
  if (!entries.every(([name, mapping]) => 'columns' in mapping && float32(name))) return undefined;
  const pack: Array<{ name: string; columns: string[] }> = [];
  const packed: Record<string, string[]> = {};
  const inputs: NonNullable<ModelSpec['inputs']> = {};
  entries.forEach(([name, mapping], i) => {
    const columns = (mapping as { columns: string[] }).columns;
    const column = `__quiver_input_${i}`;
    pack.push({ name: column, columns });
    packed[name] = columns;
    inputs[name] = { listColumn: column, nulls: mapping.nulls };
  });
  return { read: { columns: passthrough, pack }, model: { ...model, inputs }, packed };
}

/** `onInvalidRow: "skip"` turns a `fail` null policy into `reject`: such rows go to `rejected/`. */
function effectiveModelSpec(record: JobRecord): ModelSpec {
  const model = record.spec.model;
  if (record.spec.errors.onInvalidRow !== 'skip' || !model.inputs) return model;
  const inputs = Object.fromEntries(
    Object.entries(model.inputs).map(([name, mapping]) => [
      name,
      mapping.nulls === 'fail' ? { ...mapping, nulls: 'reject' as const } : mapping,
    ]),
  );
  return { ...model, inputs };
}

/**
 * Scores one chunk as one attempt: takes the chunk's fencing token, reads its parts at their planned
 * versions, scores every row with the job's one model, and commits what it has scored as a segment every
 * `checkpointMs` of scoring, so a killed worker loses at most one checkpoint interval: the next attempt
 * resumes after the last accepted segment. Then the chunk commits (marker, then Redis' acceptance), and the
 * last commit hands the job to finalize. An attempt that is superseded, or whose job leaves `running`,
 * stops and writes nothing anything references (`jobs/chunk-commits.ts`).
 */
export async function processScore(
  deps: PipelineDeps,
  jobId: string,
  chunk: ChunkDescriptor,
  signal?: AbortSignal,
  /** Called whenever the chunk moves: a batch read or scored (the worker's stall watchdog listens). */
  progress: () => void = () => undefined,
): Promise<void> {
  const record = await deps.store.get(jobId);
  if (!record) return;
  deps = forTenant(deps, record.tenant);
  const attempt = newAttemptId();
  const begun = await deps.store.beginAttempt(jobId, chunk.index, attempt);
  if (begun.state === 'committed') return finishIfLast(deps, jobId);
  if (begun.state === 'stopped') return;
  const context = { jobId, chunk: chunk.index, attempt };
  const log = (message: string, extra?: Record<string, unknown>) =>
    deps.log(message, { ...context, ...extra });
  try {
    await scoreAttempt(deps, record, chunk, attempt, begun.segments, log, signal, progress);
  } catch (error) {
    if (!(error instanceof AttemptStopped)) throw error;
    log('attempt stopped', { state: error.state });
  }
}

async function scoreAttempt(
  deps: PipelineDeps,
  record: JobRecord,
  chunk: ChunkDescriptor,
  attempt: string,
  acceptedSegments: readonly string[],
  log: (message: string, context?: Record<string, unknown>) => void,
  signal: AbortSignal | undefined,
  progress: () => void,
): Promise<void> {
  const jobId = record.id;
  const started = performance.now();
  const spec = record.spec;
  const layout = outputLayout(spec.output.uri, jobId, spec.output.format);
  const checkpointMs = deps.checkpointMs ?? 30_000;

  const mapped = effectiveModelSpec(record);
  const lease = await deps.scorers.acquire(mapped, record.modelSha256, signal, deps.storage);
  try {
    const modelSha256 = lease.model.sha256;
    const resumed = await readAcceptedSegments(
      deps.storage,
      layout,
      chunk.index,
      acceptedSegments,
      { specDigest: record.specDigest, modelSha256 },
      signal,
    );
    const checkpoint = makeChunkCheckpoint({
      deps,
      record,
      chunk,
      attempt,
      layout,
      modelSha256,
      writer: makeWriter(spec.output.format),
      resumed,
      signal,
      log,
    });
    const resumeRow = checkpoint.resumeRow;
    if (resumeRow > 0) log('chunk resumed', { fromRow: resumeRow, segments: resumed.length });

    const packing = packFeatures(chunk, spec.output.passthrough, mapped, lease.host.metadata);
    const model = packing?.model ?? mapped;
    if (packing && chunk.index === 0)
      log('features packed in the decoder', { inputs: Object.keys(packing.packed) });
    // Under `onInvalidRow: "skip"`, records that cannot be decoded are refused like rows the mapping refuses.
    // Each belongs to the segment holding the stream row after it; those of committed segments are ignored.
    const onSkipped =
      spec.errors.onInvalidRow === 'skip' ? (s: SkippedRecord) => checkpoint.skip(s) : undefined;
    const storage = pinnedStorage(deps.storage, chunk.parts);
    const read = readChunk(deps, storage, record, chunk, signal, packing?.read, onSkipped);
    const batches = skipRows(packing ? missingAsMappingErrors(read, packing.packed) : read, resumeRow)[
      Symbol.asyncIterator
    ]();
    const first = await batches.next();

    if (!first.done) {
      const prepared = await prepareScoring(lease, {
        schema: first.value.schema,
        model,
        passthrough: spec.output.passthrough,
        batch: spec.batch,
        sample: [first.value],
        tuningCache: deps.tuningCache,
        ...(packing ? { packed: packing.packed } : {}),
        log: (message) => log(message),
      });
      const all = (async function* () {
        yield first.value;
        for (let next = await batches.next(); !next.done; next = await batches.next()) {
          progress();
          yield next.value;
        }
      })();
      let checkedAt = performance.now();
      let segmentStartedAt = performance.now();
      for await (const scored of locateErrors(chunk, resumeRow, prepared.engine.score(all, signal))) {
        progress();
        // A superseded attempt, or one whose job left `running` (cancelled, failed, finalizing), stops:
        // checked every quarter second between calls, and again before every write.
        if (performance.now() - checkedAt >= 250) {
          checkedAt = performance.now();
          await checkpoint.assertCurrent();
        }
        checkpoint.add(
          scored.output,
          scored.rejected.rows.length,
          scored.rejectedKeys && {
            keys: scored.rejectedKeys,
            rows: scored.rejected.rows.map((r) => r + resumeRow),
            columns: scored.rejected.columns,
          },
        );
        if (performance.now() - segmentStartedAt >= checkpointMs) {
          await checkpoint.commit(resumeRow + scored.rowStart + scored.rows);
          segmentStartedAt = performance.now();
        }
      }
    }
    // The last segment; a chunk with no rows at all still gets its (empty) part when the schema is known.
    if (checkpoint.pending()) await checkpoint.commit(checkpoint.rowEnd, true);

    const segments = checkpoint.segments;
    const commit: ChunkCommit = {
      index: chunk.index,
      attempt,
      segments,
      rows: segments.reduce((n, seg) => n + seg.rows, 0),
      rejected: segments.reduce((n, seg) => n + seg.rejected, 0),
      bytes: segments.reduce((n, seg) => n + seg.part.bytes, 0),
      specDigest: record.specDigest,
      modelSha256,
      inputDigest: chunkInputDigest(chunk),
      inputs: chunk.parts.map(({ uri, etag, size }) =>
        etag === undefined ? { uri, size } : { uri, etag, size },
      ),
      seconds: (performance.now() - started) / 1000,
    };
    const counted = await acceptChunk(deps, jobId, layout, commit, spec.errors.maxInvalidFraction, signal);
    log('chunk committed', {
      rows: commit.rows,
      rejected: commit.rejected,
      segments: segments.length,
      first: counted.first,
      seconds: commit.seconds,
    });
    if (counted.overLimit) return await failOverLimit(deps, jobId, chunk.index, layout.root);
    if (counted.chunksDone >= counted.chunksTotal) await finishIfLast(deps, jobId);
  } finally {
    lease.release();
  }
}

/**
 * The job's refused rows passed its limit as this chunk committed: it fails now, its queued chunks are
 * removed and its running ones stop at their next check, instead of scoring the rest first.
 */
async function failOverLimit(deps: PipelineDeps, jobId: string, chunk: number, root: string): Promise<void> {
  const record = await deps.store.get(jobId);
  if (!record || record.status !== 'running') return;
  const error = new RowsRejectedOverLimit(
    record.progress.rowsRejected,
    record.progress.rowsTotal ?? record.progress.rowsScored + record.progress.rowsRejected,
    record.spec.errors.maxInvalidFraction,
    `${root}/rejected/`,
  );
  await deps.store.transition(jobId, 'failed', {
    error: { code: error.code, message: error.message, uri: error.uri, chunk },
  });
  const removed = await deps.enqueue.removeQueuedChunks(jobId, record.progress.chunksTotal);
  deps.log('job failed early', { jobId, chunk, code: error.code, removedChunks: removed });
}

/**
 * A column missing from a packed read is the mapping's problem, not the file's: it is reported as the
 * mapper reports it (FEATURE_COLUMN_MISSING naming the model input), whichever path read the features.
 */
async function* missingAsMappingErrors(
  batches: AsyncIterable<RecordBatch>,
  packed: Record<string, string[]>,
): AsyncGenerator<RecordBatch> {
  try {
    yield* batches;
  } catch (error) {
    const column = error instanceof BadDataError ? error.location.column : undefined;
    const input = Object.keys(packed).find((name) => column !== undefined && packed[name]!.includes(column));
    if (!(error instanceof BadDataError) || error.code !== 'SCHEMA_MISMATCH' || input === undefined)
      throw error;
    throw Object.assign(
      new FeatureMappingError(
        'FEATURE_COLUMN_MISSING',
        `model input "${input}" needs column "${column}", which ${error.location.uri} lacks`,
        { input, column },
      ),
      { location: { uri: error.location.uri } },
    );
  }
}

/** The stream without its first `count` rows (already scored by committed segments). */
async function* skipRows(batches: AsyncIterable<RecordBatch>, count: number): AsyncGenerator<RecordBatch> {
  let skip = count;
  for await (const batch of batches) {
    if (skip >= batch.numRows) {
      skip -= batch.numRows;
      continue;
    }
    yield skip > 0 ? batch.slice(skip) : batch;
    skip = 0;
  }
}

/**
 * Where row `row` of a chunk's stream lives: its object, and its row there when the plan knows the parts'
 * row counts (Parquet row groups, counted CSV records).
 */
export function locateChunkRow(
  chunk: ChunkDescriptor,
  row: number,
): { uri: string; row?: number } | undefined {
  let rest = row;
  for (const part of chunk.parts) {
    if (part.rows === undefined) return chunk.parts.length === 1 ? { uri: part.uri } : undefined;
    if (rest < part.rows) {
      const offset = part.range.kind === 'whole' ? 0 : (part.range.rowOffset ?? undefined);
      return offset === undefined ? { uri: part.uri } : { uri: part.uri, row: offset + rest };
    }
    rest -= part.rows;
  }
  return undefined;
}

/** Mapping errors name a row of the chunk's stream; users want the object and its row. */
async function* locateErrors<T>(
  chunk: ChunkDescriptor,
  rowBase: number,
  scored: AsyncGenerator<T>,
): AsyncGenerator<T> {
  try {
    yield* scored;
  } catch (error) {
    if (error instanceof FeatureMappingError && error.where.row !== undefined) {
      const location = locateChunkRow(chunk, rowBase + error.where.row);
      if (location) Object.assign(error, { location });
    }
    throw error;
  }
}

async function finishIfLast(deps: PipelineDeps, jobId: string): Promise<void> {
  const record = await deps.store.get(jobId);
  if (!record || record.status !== 'running') return;
  if (record.progress.chunksDone < record.progress.chunksTotal) return;
  await deps.store.transition(jobId, 'finalizing');
  await deps.enqueue.finalize(jobId);
}
