import type { ChunkDescriptor } from '../../schemas/chunk-descriptor.js';
import type { SegmentCommit, WrittenObject } from '../../schemas/chunk-commit.js';
import type { SegmentStats } from '../../schemas/run-report.js';
import type { JobRecord } from '../../schemas/job-record.js';
import type { BatchSchema, KeyTable, OutputBatch } from '../ports/batches.js';
import type { InvalidRecord } from '../ports/input-readers.js';
import type { BatchWriter } from '../ports/output-writers.js';
import type { OutputColumnOwners } from '../ports/chunk-scorer.js';
import { createHash } from 'node:crypto';
import { acceptSegment, discard, recordingWrites } from '../chunk-commits.js';
import type { OutputLayout } from '../output-layout.js';
import type { PipelineDeps } from '../pipeline-deps.js';
import type { Log } from '../ports/log.js';
import { AttemptStopped } from './errors/attempt-stopped.js';
import { writeSegmentParts } from './segment-parts.js';

/** A record the reader skipped, at `position`: the number of good rows of the chunk's stream before it. */
export interface SkippedRecord {
  position: number;
  invalid: InvalidRecord;
}

/** Rows the mapping refused in one scored call: their keys, stream rows and the null column of each. */
export interface RefusedRows {
  keys: KeyTable;
  rows: number[];
  columns: readonly string[];
}

export interface ChunkCheckpointOptions {
  /** `writers.partitioner` splits rows for `output.partitionBy`. */
  deps: Pick<PipelineDeps, 'store' | 'storage'> & { writers?: Pick<PipelineDeps['writers'], 'partitioner'> };
  record: JobRecord;
  chunk: ChunkDescriptor;
  attempt: string;
  layout: OutputLayout;
  modelSha256: string;
  /** With `spec.challengers`: each challenger's digest, by name. */
  challengerSha256?: Record<string, string>;
  writer: BatchWriter;
  /** Accepted segments of earlier attempts: this attempt resumes after the last one. */
  resumed: readonly SegmentCommit[];
  signal?: AbortSignal;
  /** The attempt's log (its child carries `{ jobId, chunk, attempt }`). */
  log: Log;
}

/** The scorer says whose each column is on every call; a segment of `parts` output cannot be cut without. */
function ownersOf(owners: OutputColumnOwners | undefined): OutputColumnOwners {
  if (owners === undefined)
    throw new TypeError('output.challengers "parts": the scorer did not say whose each output column is');
  return owners;
}

/**
 * What one attempt of a chunk has scored since its last checkpoint, and the commit of it as a segment:
 * part, refused rows, marker, then Redis' acceptance under the attempt's fencing token. Before writing
 * anything it checks the attempt is still current, so a superseded attempt writes nothing more; one that
 * loses the race afterwards deletes what it wrote. Segment boundaries depend on time, so every name carries
 * the attempt id (`OutputLayout.segmentPart`).
 */
export function makeChunkCheckpoint(options: ChunkCheckpointOptions) {
  const { deps, record, chunk, attempt, layout, writer, signal } = options;
  const segments: SegmentCommit[] = [...options.resumed];
  const resumeRow = segments.at(-1)?.rowEnd ?? 0;
  let segmentStart = resumeRow;
  let outputs: OutputBatch[] = [];
  let refused: RefusedRows[] = [];
  const skipped: SkippedRecord[] = [];
  let rows = 0;
  let rejected = 0;
  let schema: BatchSchema | undefined;
  let owners: OutputColumnOwners | undefined;
  /** `output.challengers: "parts"`: each model's columns go to parts of their own. */
  const partsPerModel = record.spec.output.challengers === 'parts' && record.spec.challengers !== undefined;

  async function assertCurrent(): Promise<void> {
    const state = await deps.store.attemptState(record.id, chunk.index, attempt);
    if (state !== 'current') throw new AttemptStopped(record.id, chunk.index, state);
  }

  return {
    resumeRow,
    segments,
    /** A record the reader skipped; those before the resume point belong to committed segments. */
    skip(record: SkippedRecord): void {
      if (record.position >= resumeRow) skipped.push(record);
    },
    /** Output rows and refused rows of one scored call; `columns`: whose each output column is. */
    add(output: OutputBatch, refusedRows: number, keys?: RefusedRows, columns?: OutputColumnOwners): void {
      schema ??= output.schema;
      owners ??= columns;
      outputs.push(output);
      rows += output.numRows;
      rejected += refusedRows;
      if (keys) refused.push(keys);
    },
    /** Whether anything is waiting for a commit (or the chunk has no segment yet but a known schema). */
    pending(): boolean {
      return rows + rejected + skipped.length > 0 || (segments.length === 0 && schema !== undefined);
    },
    /** The stream row after what has been added so far. */
    get rowEnd(): number {
      return segmentStart + rows + rejected;
    },
    /**
     * Commits rows `[segmentStart, rowEnd)` as a segment, with the skipped records before `rowEnd` (all that
     * are left with `last`) and the statistics of its rows (`stats`: the scorer's take, for the report).
     */
    async commit(rowEnd: number, last = false, stats?: SegmentStats): Promise<void> {
      await assertCurrent();
      const taken = skipped.filter((s) => last || s.position < rowEnd);
      skipped.splice(0, taken.length);
      const refusedRows = rejected + taken.length;
      // Every object this commit writes before Redis is asked, so that a failure (an abort included)
      // deletes what it stored: a PUT the server completed as the client gave up is referenced by nothing.
      const attempted: string[] = [];
      const storage = recordingWrites(deps.storage, attempted);
      let segment: SegmentCommit;
      try {
        const written = await writeSegmentParts({
          storage,
          writer,
          layout,
          index: chunk.index,
          attempt,
          rowStart: segmentStart,
          outputs,
          schema,
          partitionBy: record.spec.output.partitionBy,
          partitioner: deps.writers?.partitioner,
          ...(partsPerModel ? { models: ownersOf(owners) } : {}),
          ...(signal ? { signal } : {}),
        });
        segment = {
          attempt,
          rowStart: segmentStart,
          rowEnd,
          rows,
          rejected: refusedRows,
          ...written,
          specDigest: record.specDigest,
          modelSha256: options.modelSha256,
          ...(options.challengerSha256 ? { challengerSha256: options.challengerSha256 } : {}),
          ...(stats ? { stats } : {}),
        };
        if (refusedRows > 0) {
          segment.rejectedFile = await writeRejected(
            storage,
            layout.segmentRejected(chunk.index, attempt, segmentStart),
            chunk,
            refused,
            taken,
            signal,
          );
        }
      } catch (error) {
        await discard(deps.storage, attempted);
        throw error;
      }
      await acceptSegment(deps, record.id, layout, chunk.index, segment, signal);
      segments.push(segment);
      options.log.info({ rowStart: segmentStart, rowEnd, rows }, 'segment committed');
      segmentStart = rowEnd;
      outputs = [];
      refused = [];
      rows = 0;
      rejected = 0;
    },
  };
}

const bigintAsJson = (_k: string, v: unknown): unknown =>
  typeof v === 'bigint' ? (Number.isSafeInteger(Number(v)) ? Number(v) : v.toString()) : v;

/**
 * Refused rows as JSON lines: the passthrough keys, the chunk and row, and why. Records that could not be
 * decoded have no keys: their line carries the object, its row (when known), the byte offset, the reason
 * and the record's text as it was, so nothing is lost.
 */
async function writeRejected(
  storage: PipelineDeps['storage'],
  uri: string,
  chunk: ChunkDescriptor,
  refused: readonly RefusedRows[],
  skipped: readonly SkippedRecord[],
  signal?: AbortSignal,
): Promise<WrittenObject> {
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
          bigintAsJson,
        ),
      );
    });
  }
  const bytes = new TextEncoder().encode(`${lines.join('\n')}\n`);
  await storage.write(uri, bytes, { signal, contentType: 'application/jsonl; charset=utf-8' });
  return { uri, bytes: bytes.byteLength, sha256: createHash('sha256').update(bytes).digest('hex') };
}
