import type { RecordBatch, Schema, Table } from 'apache-arrow';
import type { InvalidRecord, ReadPartOptions } from '../../services/formats/format-reader.js';
import type { ModelMetadata } from '../../services/scoring/inference-host.js';
import type { ChunkDescriptor } from '../../schemas/chunk-descriptor.js';
import type { JobRecord } from '../../schemas/job-record.js';
import type { ModelSpec } from '../../schemas/model-spec.js';
import { BadDataError } from '../../services/formats/errors/bad-data-error.js';
import { makeWriter } from '../../services/formats/writers/make-writer.js';
import { FeatureMappingError } from '../../services/scoring/errors/feature-mapping-error.js';
import { prepareScoring } from '../../services/scoring/open-scorer.js';
import { readCommitMarkers } from '../commit-markers.js';
import { isTerminal } from '../job-state.js';
import { type ChunkCommit, type SegmentCommit, outputLayout } from '../output-layout.js';
import type { PipelineDeps } from '../pipeline-deps.js';

/** A record the reader skipped, at `position`: the number of good rows of the chunk's stream before it. */
interface SkippedRecord {
  position: number;
  invalid: InvalidRecord;
}

/**
 * Every batch of every part of a chunk, in order. With `onSkipped`, records that cannot be decoded are
 * skipped and reported with their place in the chunk's row stream.
 */
async function* readChunk(
  deps: PipelineDeps,
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
      ? (invalid: InvalidRecord) => onSkipped({ position: partStart + invalid.rowInPart, invalid })
      : undefined;
    for await (const batch of reader.readPart(deps.storage, part, {
      signal,
      header: record.spec.input.header,
      ...projection,
      ...(onInvalidRecord ? { onInvalidRecord } : {}),
    })) {
      rowsBefore += batch.numRows;
      yield batch;
    }
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
 * Scores one chunk: reads its parts, scores every row, and commits what it has scored as a segment every
 * `checkpointMs` of scoring (part, refused rows, then the segment's marker), so a killed worker loses at
 * most one checkpoint interval: the re-run skips the rows of the committed segments. Names are fixed by the
 * chunk and the segment's first row, so a rerun overwrites with the same rows. Then the chunk commits — its
 * marker in storage, then the exactly-once counter in Redis — and the last commit hands the job to finalize.
 */
export async function processScore(
  deps: PipelineDeps,
  jobId: string,
  chunk: ChunkDescriptor,
  signal?: AbortSignal,
  /** Called whenever the chunk moves: a batch read or scored (the worker's stall watchdog listens). */
  progress: () => void = () => undefined,
): Promise<void> {
  const { store, storage } = deps;
  const record = await store.get(jobId);
  if (!record || isTerminal(record.status) || record.status === 'cancelling') return;
  if (await store.isCommitted(jobId, chunk.index)) return finishIfLast(deps, jobId);
  const started = performance.now();
  const spec = record.spec;
  const layout = outputLayout(spec.output.uri, jobId, spec.output.format);
  const checkpointMs = deps.checkpointMs ?? 30_000;

  // Segments an earlier attempt committed: the re-run resumes after the last contiguous one.
  const segments = await committedSegments(deps, layout.segments(chunk.index), record.specDigest, signal);
  const resumeRow = segments.at(-1)?.rowEnd ?? 0;
  if (resumeRow > 0)
    deps.log('chunk resumed', { jobId, chunk: chunk.index, fromRow: resumeRow, segments: segments.length });

  const mapped = effectiveModelSpec(record);
  const opened = await deps.scorers.open(mapped, signal);
  const packing = packFeatures(chunk, spec.output.passthrough, mapped, opened.host.metadata);
  const model = packing?.model ?? mapped;
  if (packing && chunk.index === 0)
    deps.log('features packed in the decoder', { jobId, inputs: Object.keys(packing.packed) });
  // Under `onInvalidRow: "skip"`, records that cannot be decoded are refused like rows the mapping refuses.
  // Each belongs to the segment holding the stream row after it; those of committed segments are ignored.
  const skipped: SkippedRecord[] = [];
  const onSkipped =
    spec.errors.onInvalidRow === 'skip'
      ? (s: SkippedRecord) => {
          if (s.position >= resumeRow) skipped.push(s);
        }
      : undefined;
  const read = readChunk(deps, record, chunk, signal, packing?.read, onSkipped);
  const batches = skipRows(packing ? missingAsMappingErrors(read, packing.packed) : read, resumeRow)[
    Symbol.asyncIterator
  ]();
  const first = await batches.next();
  const writer = makeWriter(spec.output.format);

  let segmentStart = resumeRow;
  let segmentStartedAt = performance.now();
  let outputs: RecordBatch[] = [];
  let refused: Array<{ keys: Table; rows: number[]; columns: string[] }> = [];
  let rows = 0;
  let rejected = 0;
  let schema: Schema | undefined;

  /**
   * Commits rows `[segmentStart, rowEnd)` as a segment: its part, its refused rows (and the skipped records
   * before `rowEnd`, or all left with `last`), then its marker.
   */
  const commitSegment = async (rowEnd: number, last = false): Promise<void> => {
    const taken = skipped.filter((s) => last || s.position < rowEnd);
    skipped.splice(0, taken.length);
    rejected += taken.length;
    const written = await writer.write(
      storage,
      layout.segmentPart(chunk.index, segmentStart),
      outputs,
      schema ? { schema, signal } : { signal },
    );
    const segment: SegmentCommit = {
      rowStart: segmentStart,
      rowEnd,
      part: written.uri,
      rows,
      rejected,
      bytes: written.bytes,
      specDigest: record.specDigest,
    };
    if (rejected > 0) {
      segment.rejectedUri = await writeRejected(
        deps,
        layout.segmentRejected(chunk.index, segmentStart),
        chunk,
        refused,
        taken,
        signal,
      );
    }
    await storage.write(
      layout.segmentMarker(chunk.index, segmentStart),
      new TextEncoder().encode(JSON.stringify(segment)),
      { signal },
    );
    segments.push(segment);
    deps.log('segment committed', { jobId, chunk: chunk.index, rowStart: segmentStart, rowEnd, rows });
    segmentStart = rowEnd;
    segmentStartedAt = performance.now();
    outputs = [];
    refused = [];
    rows = 0;
    rejected = 0;
  };

  if (!first.done) {
    const prepared = await prepareScoring(opened, {
      schema: first.value.schema,
      model,
      passthrough: spec.output.passthrough,
      batch: spec.batch,
      sample: [first.value],
      tuningCache: deps.tuningCache,
      ...(packing ? { packed: packing.packed } : {}),
      log: (message) => deps.log(message, { jobId, chunk: chunk.index }),
    });
    const all = (async function* () {
      yield first.value;
      for (let next = await batches.next(); !next.done; next = await batches.next()) {
        progress();
        yield next.value;
      }
    })();
    let statusCheckedAt = performance.now();
    for await (const scored of locateErrors(chunk, resumeRow, prepared.engine.score(all, signal))) {
      progress();
      // A cancelled (or failed) job stops its running chunks too: checked every quarter second, between calls.
      if (performance.now() - statusCheckedAt >= 250) {
        statusCheckedAt = performance.now();
        const status = (await store.get(jobId))?.status;
        if (status === 'cancelling' || status === 'cancelled' || status === 'failed') {
          deps.log('chunk cancelled', {
            jobId,
            chunk: chunk.index,
            status,
            committedSegments: segments.length,
          });
          return;
        }
      }
      schema ??= scored.output.schema;
      outputs.push(...scored.output.batches);
      rows += scored.output.numRows;
      rejected += scored.rejected.rows.length;
      if (scored.rejectedKeys) {
        refused.push({
          keys: scored.rejectedKeys,
          rows: scored.rejected.rows.map((r) => r + resumeRow),
          columns: scored.rejected.columns,
        });
      }
      if (performance.now() - segmentStartedAt >= checkpointMs)
        await commitSegment(resumeRow + scored.rowStart + scored.rows);
    }
  }
  // The last segment; a chunk with no rows at all still gets its (empty) part when the schema is known.
  if (rows + rejected + skipped.length > 0 || (segments.length === 0 && schema))
    await commitSegment(segmentStart + rows + rejected, true);

  const commit: ChunkCommit = {
    index: chunk.index,
    segments,
    rows: segments.reduce((n, seg) => n + seg.rows, 0),
    rejected: segments.reduce((n, seg) => n + seg.rejected, 0),
    bytes: segments.reduce((n, seg) => n + seg.bytes, 0),
    specDigest: record.specDigest,
    modelSha256: opened.model.sha256,
    seconds: (performance.now() - started) / 1000,
  };
  await storage.write(layout.commit(chunk.index), new TextEncoder().encode(JSON.stringify(commit)), {
    signal,
  });
  const counted = await store.commitChunk(jobId, chunk.index, {
    rows: commit.rows,
    rejected: commit.rejected,
  });
  deps.log('chunk committed', {
    jobId,
    chunk: chunk.index,
    rows: commit.rows,
    rejected: commit.rejected,
    segments: segments.length,
    first: counted.first,
    seconds: commit.seconds,
  });
  if (counted.chunksDone >= counted.chunksTotal) await finishIfLast(deps, jobId);
}

/** Committed segments of a chunk for this spec, in row order, up to the first gap. */
async function committedSegments(
  deps: PipelineDeps,
  prefix: string,
  specDigest: string,
  signal?: AbortSignal,
): Promise<SegmentCommit[]> {
  const found = await readCommitMarkers<SegmentCommit>(deps.storage, prefix, specDigest, signal);
  found.sort((a, b) => a.rowStart - b.rowStart);
  const chain: SegmentCommit[] = [];
  for (const segment of found) {
    if (segment.rowStart !== (chain.at(-1)?.rowEnd ?? 0)) break;
    chain.push(segment);
  }
  return chain;
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

/**
 * Refused rows as JSON lines: the passthrough keys, the chunk and row, and why. Records that could not be
 * decoded have no keys: their line carries the object, its row (when known), the byte offset, the reason
 * and the record's text as it was, so nothing is lost.
 */
async function writeRejected(
  deps: PipelineDeps,
  uri: string,
  chunk: ChunkDescriptor,
  refused: Array<{ keys: Table; rows: number[]; columns: string[] }>,
  skipped: readonly SkippedRecord[],
  signal?: AbortSignal,
): Promise<string> {
  const lines: string[] = [];
  for (const { invalid } of skipped) {
    const { uri: object, row, byteOffset } = invalid.error.location;
    lines.push(
      JSON.stringify({
        _chunk: chunk.index,
        _uri: object,
        ...(row === undefined ? {} : { _objectRow: row }),
        ...(byteOffset === undefined ? {} : { _byteOffset: byteOffset }),
        _reason: invalid.error.message,
        _record: invalid.record,
      }),
    );
  }
  for (const { keys, rows, columns } of refused) {
    rows.forEach((row, i) => {
      const key = keys.get(i)?.toJSON() ?? {};
      lines.push(
        JSON.stringify(
          { ...key, _chunk: chunk.index, _row: row, _reason: `FEATURE_NULL: column "${columns[i]}" is null` },
          (_k, v: unknown) =>
            typeof v === 'bigint' ? (Number.isSafeInteger(Number(v)) ? Number(v) : v.toString()) : v,
        ),
      );
    });
  }
  await deps.storage.write(uri, new TextEncoder().encode(`${lines.join('\n')}\n`), { signal });
  return uri;
}

async function finishIfLast(deps: PipelineDeps, jobId: string): Promise<void> {
  const record = await deps.store.get(jobId);
  if (!record || record.status !== 'running') return;
  if (record.progress.chunksDone < record.progress.chunksTotal) return;
  await deps.store.transition(jobId, 'finalizing');
  await deps.enqueue.finalize(jobId);
}
