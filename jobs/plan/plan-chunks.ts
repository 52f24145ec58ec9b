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
 * What the planner knows of one CSV/JSONL/Arrow object. `segments` tile `[0, size)` at record starts (from
 * the text splitter, with row counts where it counted them); absent means the object is read whole.
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

interface Candidate {
  uri: string;
  size: number;
  etag?: string;
  range: ChunkPart['range'];
  rows?: number;
  bytes: number;
}

/**
 * Greedy, deterministic grouping: pieces are taken in object order (sorted by URI) and piece order; a chunk
 * closes when the next piece would push it past the row or byte target, or its descriptor past the size
 * cap. Adjacent pieces of one object merge into one part, so a large file split by row groups costs one
 * part per chunk and many small files share a chunk.
 */
function groupPieces(format: InputFormat, candidates: Candidate[], options: PlanOptions): ChunkDescriptor[] {
  const maxJson = options.maxDescriptorBytes ?? MAX_DESCRIPTOR_BYTES;
  const maxChunks = options.maxChunks ?? DEFAULT_MAX_CHUNKS_PER_JOB;
  const chunks: ChunkDescriptor[] = [];
  let parts: ChunkPart[] = [];
  let rows: number | undefined = 0;
  let bytes = 0;

  const close = (): void => {
    if (parts.length === 0) return;
    if (chunks.length >= maxChunks) throw new TooManyChunks(maxChunks, options.chunkRows);
    const chunk: ChunkDescriptor = { index: chunks.length, format, parts, bytes };
    if (rows !== undefined) chunk.rows = rows;
    chunks.push(chunk);
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

  for (const candidate of candidates) {
    const overTarget =
      (addRows(rows, candidate.rows) ?? 0) > options.chunkRows ||
      bytes + candidate.bytes > options.chunkBytes;
    if (parts.length > 0 && overTarget) close();
    const joined = merged(parts.at(-1), candidate);
    const nextParts = joined ? [...parts.slice(0, -1), joined] : [...parts, partOf(candidate)];
    const nextRows = addRows(rows, candidate.rows);
    const nextBytes = bytes + candidate.bytes;
    const probe = { index: chunks.length, format, parts: nextParts, bytes: nextBytes, rows: nextRows };
    if (parts.length > 0 && JSON.stringify(probe).length > maxJson) {
      close();
      parts = [partOf(candidate)];
      rows = candidate.rows;
      bytes = candidate.bytes;
    } else {
      parts = nextParts;
      rows = nextRows;
      bytes = nextBytes;
    }
  }
  close();
  return chunks;
}

/** Row counts add up while every piece's count is known; one unknown makes the total unknown. */
function addRows(total: number | undefined, rows: number | undefined): number | undefined {
  return total === undefined || rows === undefined ? undefined : total + rows;
}

const byUri = <T extends { uri: string }>(a: T, b: T): number => (a.uri < b.uri ? -1 : a.uri > b.uri ? 1 : 0);

/** Chunks for Parquet objects: large files split by row groups, small ones grouped. Empty files plan nothing. */
export function planParquetChunks(
  objects: readonly ParquetLayout[],
  options: PlanOptions,
): ChunkDescriptor[] {
  const candidates: Candidate[] = [];
  for (const object of [...objects].sort(byUri)) {
    let rowOffset = 0;
    object.rowGroups.forEach((group, index) => {
      if (group.rows > 0) {
        candidates.push({
          uri: object.uri,
          size: object.size,
          etag: object.etag,
          range: { kind: 'rowGroups', start: index, end: index + 1, rowOffset },
          rows: group.rows,
          bytes: group.bytes,
        });
      }
      rowOffset += group.rows;
    });
  }
  return groupPieces('parquet', candidates, options);
}

/** Chunks for CSV/JSONL (record-aligned byte segments) and Arrow IPC (whole objects). */
export function planByteChunks(
  format: Exclude<InputFormat, 'parquet'>,
  objects: readonly ByteLayout[],
  options: PlanOptions,
): ChunkDescriptor[] {
  const candidates: Candidate[] = [];
  for (const object of [...objects].sort(byUri)) {
    if (object.size === 0) continue;
    const segments = format === 'arrow' ? undefined : object.segments;
    if (!segments) {
      const range: ChunkPart['range'] =
        format === 'arrow' ? { kind: 'whole' } : { kind: 'bytes', start: 0, end: object.size };
      candidates.push({ uri: object.uri, size: object.size, etag: object.etag, range, bytes: object.size });
      continue;
    }
    // Records before each segment, while the splitter counted them: errors then name exact rows.
    let recordOffset: number | undefined = 0;
    for (const { start, end, rows, records } of segments) {
      const rowOffset = records === undefined ? undefined : recordOffset;
      recordOffset = recordOffset === undefined || records === undefined ? undefined : recordOffset + records;
      // A segment the splitter counted as holding no rows (a lone header) reads nothing worth a chunk.
      if (end <= start || rows === 0) continue;
      const range: ChunkPart['range'] =
        rowOffset === undefined ? { kind: 'bytes', start, end } : { kind: 'bytes', start, end, rowOffset };
      candidates.push({
        uri: object.uri,
        size: object.size,
        etag: object.etag,
        range,
        rows,
        bytes: end - start,
      });
    }
  }
  return groupPieces(format, candidates, options);
}
