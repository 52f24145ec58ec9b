import {
  type ChunkDescriptor,
  type ChunkPart,
  type InputFormat,
  MAX_DESCRIPTOR_BYTES,
} from '../../schemas/chunk-descriptor.js';
import { TooManyChunks } from './errors/too-many-chunks.js';

/** Most chunks one job may plan, unless `PlanOptions.maxChunks` says otherwise. */
export const DEFAULT_MAX_CHUNKS_PER_JOB = 100_000;

/** A unit the planner cannot split: one Parquet row group, or one record-aligned byte segment. */
export interface Piece {
  /** Rows in the piece when known (Parquet), else undefined. */
  rows?: number;
  /** Input bytes the piece reads (compressed bytes for Parquet). */
  bytes: number;
}

/** What the planner knows of one Parquet object: its row groups, from the footer. */
export interface ParquetLayout {
  uri: string;
  size: number;
  etag?: string;
  rowGroups: { rows: number; bytes: number }[];
}

/**
 * What the planner knows of one CSV/JSONL/Arrow object. `segments` lie at record starts (CSV/JSONL: from
 * the text splitter, tiling `[0, size)`, with row counts where it counted them; Arrow: one record-batch
 * message each, with its rows); absent means the object is read whole.
 */
export interface ByteLayout {
  uri: string;
  size: number;
  etag?: string;
  segments?: { start: number; end: number; rows?: number; records?: number }[];
}

export interface PlanOptions {
  /**
   * Target rows per chunk: Parquet by row groups (a single larger row group still makes one chunk), CSV
   * exactly (the scan counts rows), JSONL by a byte estimate from the object's first MiB.
   */
  chunkRows: number;
  /** Target input bytes per chunk; small objects are grouped up to this. */
  chunkBytes: number;
  /** Cap on one descriptor's JSON size (default MAX_DESCRIPTOR_BYTES). */
  maxDescriptorBytes?: number;
  /**
   * Most chunks the input may make (default 100,000, `QUIVER_MAX_CHUNKS_PER_JOB`); planning past it throws
   * `TooManyChunks` as soon as the next chunk would pass it.
   */
  maxChunks?: number;
}

/** One piece as the grouper takes it: where it lies and what it holds. */
export interface Candidate {
  uri: string;
  size: number;
  etag?: string;
  range: ChunkPart['range'];
  rows?: number;
  bytes: number;
}

/** Groups pieces into chunks as they come (`planByteChunks`, `planParquetChunks`, streaming planning). */
export interface ChunkGrouper {
  /** Takes the next piece; returns the chunks it closed (none, or the one it could not join). */
  add(candidate: Candidate): ChunkDescriptor[];
  /** Closes the chunk in progress; returns it, or nothing when it is empty. */
  finish(): ChunkDescriptor[];
}

/**
 * Greedy, deterministic grouping: pieces are taken in object order (sorted by URI) and piece order; a chunk
 * closes when the next piece would push it past the row or byte target, or its descriptor past the size
 * cap. Adjacent pieces of one object merge into one part, so a large file split by row groups costs one
 * part per chunk and many small files share a chunk. A chunk's fate depends only on the pieces before the
 * next one, so pieces may be fed as they are found and each closed chunk queued at once.
 */
export function makeChunkGrouper(format: InputFormat, options: PlanOptions): ChunkGrouper {
  const maxJson = options.maxDescriptorBytes ?? MAX_DESCRIPTOR_BYTES;
  const maxChunks = options.maxChunks ?? DEFAULT_MAX_CHUNKS_PER_JOB;
  let closedCount = 0;
  let parts: ChunkPart[] = [];
  let rows: number | undefined = 0;
  let bytes = 0;

  const close = (into: ChunkDescriptor[]): void => {
    if (parts.length === 0) return;
    if (closedCount >= maxChunks) throw new TooManyChunks(maxChunks, options.chunkRows);
    const chunk: ChunkDescriptor = { index: closedCount++, format, parts, bytes };
    if (rows !== undefined) chunk.rows = rows;
    into.push(chunk);
    parts = [];
    rows = 0;
    bytes = 0;
  };

  const merged = (last: ChunkPart | undefined, next: Candidate): ChunkPart | undefined => {
    if (!last || last.uri !== next.uri) return undefined;
    const a = last.range;
    const b = next.range;
    if (a.kind === 'rowGroups' && b.kind === 'rowGroups' && a.end === b.start) {
      return { ...last, range: { ...a, end: b.end }, rows: (last.rows ?? 0) + (next.rows ?? 0) };
    }
    if (a.kind === 'bytes' && b.kind === 'bytes' && a.end === b.start) {
      // The merged part holds both pieces' rows (known only when both are): error rows stay exact.
      const { rows: _rows, ...part } = last;
      const rows = addRows(last.rows, next.rows);
      return { ...part, range: { ...a, end: b.end }, ...(rows === undefined ? {} : { rows }) };
    }
    return undefined;
  };

  const partOf = (candidate: Candidate): ChunkPart => {
    const part: ChunkPart = { uri: candidate.uri, size: candidate.size, range: candidate.range };
    if (candidate.etag !== undefined) part.etag = candidate.etag;
    if (candidate.rows !== undefined) part.rows = candidate.rows;
    return part;
  };

  return {
    add(candidate) {
      const closed: ChunkDescriptor[] = [];
      const overTarget =
        (addRows(rows, candidate.rows) ?? 0) > options.chunkRows ||
        bytes + candidate.bytes > options.chunkBytes;
      if (parts.length > 0 && overTarget) close(closed);
      const joined = merged(parts.at(-1), candidate);
      const nextParts = joined ? [...parts.slice(0, -1), joined] : [...parts, partOf(candidate)];
      const nextRows = addRows(rows, candidate.rows);
      const nextBytes = bytes + candidate.bytes;
      const probe = { index: closedCount, format, parts: nextParts, bytes: nextBytes, rows: nextRows };
      if (parts.length > 0 && JSON.stringify(probe).length > maxJson) {
        close(closed);
        parts = [partOf(candidate)];
        rows = candidate.rows;
        bytes = candidate.bytes;
      } else {
        parts = nextParts;
        rows = nextRows;
        bytes = nextBytes;
      }
      // Full already: any next piece (bytes > 0; rows known for every piece of a format, or for none)
      // would close it, so it closes now and streaming planning queues it without waiting for that piece.
      if (bytes >= options.chunkBytes || (rows !== undefined && rows >= options.chunkRows)) close(closed);
      return closed;
    },
    finish() {
      const closed: ChunkDescriptor[] = [];
      close(closed);
      return closed;
    },
  };
}

function groupPieces(
  format: InputFormat,
  candidates: Iterable<Candidate>,
  options: PlanOptions,
): ChunkDescriptor[] {
  const grouper = makeChunkGrouper(format, options);
  const chunks: ChunkDescriptor[] = [];
  for (const candidate of candidates) chunks.push(...grouper.add(candidate));
  chunks.push(...grouper.finish());
  return chunks;
}

/** Row counts add up while every piece's count is known; one unknown makes the total unknown. */
function addRows(total: number | undefined, rows: number | undefined): number | undefined {
  return total === undefined || rows === undefined ? undefined : total + rows;
}

const byUri = <T extends { uri: string }>(a: T, b: T): number => (a.uri < b.uri ? -1 : a.uri > b.uri ? 1 : 0);

/** The pieces of one Parquet object: its non-empty row groups, each with the rows before it. */
export function* parquetCandidates(object: ParquetLayout): Generator<Candidate> {
  let rowOffset = 0;
  for (const [index, group] of object.rowGroups.entries()) {
    if (group.rows > 0) {
      yield {
        uri: object.uri,
        size: object.size,
        etag: object.etag,
        range: { kind: 'rowGroups', start: index, end: index + 1, rowOffset },
        rows: group.rows,
        bytes: group.bytes,
      };
    }
    rowOffset += group.rows;
  }
}

/** Chunks for Parquet objects: large files split by row groups, small ones grouped. Empty files plan nothing. */
export function planParquetChunks(
  objects: readonly ParquetLayout[],
  options: PlanOptions,
): ChunkDescriptor[] {
  return groupPieces(
    'parquet',
    [...objects].sort(byUri).flatMap((o) => [...parquetCandidates(o)]),
    options,
  );
}

/** The piece of an object read whole: an Arrow IPC object, or a text object planned without splits. */
export function wholeCandidate(format: Exclude<InputFormat, 'parquet'>, object: ByteLayout): Candidate[] {
  if (object.size === 0) return [];
  const range: ChunkPart['range'] =
    format === 'arrow' ? { kind: 'whole' } : { kind: 'bytes', start: 0, end: object.size };
  return [{ uri: object.uri, size: object.size, etag: object.etag, range, bytes: object.size }];
}

/**
 * Turns one CSV/JSONL object's segments, fed in order, into pieces: records before each segment are
 * summed while the splitter counts them, so errors name exact rows.
 */
export function makeSegmentCandidates(
  object: Omit<ByteLayout, 'segments'>,
): (segment: NonNullable<ByteLayout['segments']>[number]) => Candidate | undefined {
  let recordOffset: number | undefined = 0;
  return ({ start, end, rows, records }) => {
    const rowOffset = records === undefined ? undefined : recordOffset;
    recordOffset = recordOffset === undefined || records === undefined ? undefined : recordOffset + records;
    // A segment the splitter counted as holding no rows (a lone header) reads nothing worth a chunk.
    if (end <= start || rows === 0) return undefined;
    const range: ChunkPart['range'] =
      rowOffset === undefined ? { kind: 'bytes', start, end } : { kind: 'bytes', start, end, rowOffset };
    return { uri: object.uri, size: object.size, etag: object.etag, range, rows, bytes: end - start };
  };
}

/**
 * Chunks for CSV/JSONL (record-aligned byte segments) and Arrow IPC (record-batch messages, or whole
 * objects when planned without segments).
 */
export function planByteChunks(
  format: Exclude<InputFormat, 'parquet'>,
  objects: readonly ByteLayout[],
  options: PlanOptions,
): ChunkDescriptor[] {
  const candidates: Candidate[] = [];
  for (const object of [...objects].sort(byUri)) {
    if (object.size === 0) continue;
    const segments = object.segments;
    if (!segments) {
      candidates.push(...wholeCandidate(format, object));
      continue;
    }
    const candidateOf = makeSegmentCandidates(object);
    for (const segment of segments) {
      const candidate = candidateOf(segment);
      if (candidate) candidates.push(candidate);
    }
  }
  return groupPieces(format, candidates, options);
}
