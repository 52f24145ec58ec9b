/**
 * Byte splits of CSV and JSONL objects into parts of about a target size.
 *
 * Parts tile the object, `[0, s1), [s1, s2), … [sk, size)`, and a record belongs to the part holding its
 * first byte, so every record is read exactly once provided readers can tell record starts:
 * - JSONL: any offset works (JSON strings hold no raw newline; the reader aligns to the next line), so the
 *   cuts are computed from the size alone, with no I/O.
 * - CSV: a quoted field may hold newlines, so whether an offset is inside quotes depends on every quote
 *   before it. The planner therefore scans the object once, tracking quote parity with `indexOf` (about
 *   memory speed), and cuts only at true record starts, which the CSV reader then trusts. The same pass
 *   counts each part's rows, so CSV descriptors carry exact row counts. Parts come out as the scan passes
 *   them, so the planner queues the first chunks while the scan goes on (streaming planning).
 */
import type { TextSplit, TextSplitOptions } from '../../../jobs/ports/input-readers.js';
import type { ObjectInfo, Storage } from '../../../jobs/ports/storage.js';
import { CR, LF, forEachCsvRecordStart, type CsvScanState } from './record-boundaries.js';

/**
 * The splits of one stored CSV or JSONL object (`InputReaders.textSplits`), in order, each as soon as it is
 * known: JSONL from its size (after sampling its first MiB), CSV as the scan in ranged reads of
 * `scanBlockBytes` passes each cut, so planning can queue the first chunk long before the scan ends.
 */
export async function* planTextSplits(
  storage: Storage,
  object: ObjectInfo,
  format: 'csv' | 'jsonl',
  options: TextSplitOptions,
): AsyncGenerator<TextSplit> {
  const { signal } = options;
  const read = (start: number, end: number): Promise<Uint8Array> =>
    storage.read(object.uri, { start, end }, { signal });
  if (format === 'jsonl') {
    const targetBytes =
      options.targetRows === undefined
        ? options.targetBytes
        : await jsonlBytesForRows(read, object.size, options.targetRows, options.targetBytes);
    yield* planJsonlSplits(object.size, targetBytes);
    return;
  }
  yield* csvSplits(readBlocks(read, object.size, options.scanBlockBytes), object.size, options.targetBytes, {
    header: options.header,
    ...(options.targetRows === undefined ? {} : { targetRows: options.targetRows }),
  });
}

/** Bytes of the object's head sampled to estimate a JSONL object's bytes per line. */
export const JSONL_SAMPLE_BYTES = 1 << 20;

/**
 * Bytes per part that hold about `targetRows` JSONL lines, from the mean line length of the object's first
 * MiB (JSONL parts are cut by size with no scan, so rows per part are an estimate; every line is still read
 * exactly once), capped by `targetBytes`.
 */
export async function jsonlBytesForRows(
  read: (start: number, end: number) => Promise<Uint8Array>,
  size: number,
  targetRows: number,
  targetBytes: number,
): Promise<number> {
  if (size === 0) return targetBytes;
  const sample = await read(0, Math.min(size, JSONL_SAMPLE_BYTES));
  let lines = 0;
  for (let at = sample.indexOf(LF); at >= 0; at = sample.indexOf(LF, at + 1)) lines++;
  if (sample.length === size && sample[size - 1] !== LF) lines++;
  if (lines === 0) return targetBytes;
  return Math.max(1, Math.min(targetBytes, Math.ceil((sample.length / lines) * targetRows)));
}

/**
 * Evenly spaced interior cut targets for `size` bytes in parts of at most about `targetBytes`:
 * `ceil(size / targetBytes)` parts of equal size (the last may be a byte shorter).
 */
export function splitTargets(size: number, targetBytes: number): number[] {
  if (!(targetBytes > 0)) throw new RangeError(`targetBytes must be positive, got ${targetBytes}`);
  const parts = Math.max(1, Math.ceil(size / targetBytes));
  const targets: number[] = [];
  for (let i = 1; i < parts; i++) targets.push(Math.floor((size * i) / parts));
  return targets;
}

/** Turns increasing interior cuts into parts tiling `[0, size)`. */
function tile(size: number, cuts: readonly number[]): TextSplit[] {
  const bounds = [0, ...cuts, size];
  const splits: TextSplit[] = [];
  for (let i = 0; i + 1 < bounds.length; i++) splits.push({ start: bounds[i]!, end: bounds[i + 1]! });
  return splits;
}

/** JSONL parts: cuts at the targets as they are; the reader aligns them to line starts. */
export function planJsonlSplits(size: number, targetBytes: number): TextSplit[] {
  if (size === 0) return [];
  return tile(size, splitTargets(size, targetBytes));
}

export interface CsvSplitOptions {
  /** Whether the object's first record is a header, not counted as a row (default true). */
  header?: boolean;
  /** Most data rows per part: a part is also cut once it holds this many (the scan counts them exactly). */
  targetRows?: number;
}

/** `csvSplits`, collected. */
export async function planCsvSplits(
  blocks: AsyncIterable<Uint8Array>,
  size: number,
  targetBytes: number,
  options: CsvSplitOptions = {},
): Promise<TextSplit[]> {
  const splits: TextSplit[] = [];
  for await (const split of csvSplits(blocks, size, targetBytes, options)) splits.push(split);
  return splits;
}

/**
 * CSV parts whose starts are true record starts: each cut is the first record start at or after a target,
 * found by one pass over `blocks` (the object's bytes from offset 0, in order, any block sizes). A record
 * longer than the part size merges parts rather than being cut. `rows` counts each part's data records
 * (blank lines and the header excluded), exactly what the CSV reader yields for it. Each part is yielded
 * once the scan has passed its end (after the block holding it), the last one at the end of the scan.
 */
export async function* csvSplits(
  blocks: AsyncIterable<Uint8Array>,
  size: number,
  targetBytes: number,
  options: CsvSplitOptions = {},
): AsyncGenerator<TextSplit> {
  if (size === 0) return;
  const targets = splitTargets(size, targetBytes);
  /** Parts the scan of the current block closed, yielded once the block is done. */
  const closed: TextSplit[] = [];
  let partStart = 0;
  let rows = 0;
  let records = 0;
  let nextTarget = 0;
  const state: CsvScanState = { inQuotes: false };
  let recordStart = 0;
  let blockStart = 0;
  let previousBlockLastByte = -1;
  let skipHeader = options.header ?? true;
  let block: Uint8Array = new Uint8Array(0);

  // Called with each record's end (the next record's start); counts the record and cuts before the next.
  const onRecordEnd = (next: number): void => {
    const length = next - recordStart;
    const blank =
      length === 1 ||
      (length === 2 &&
        (recordStart >= blockStart ? block[recordStart - blockStart] : previousBlockLastByte) === CR);
    recordStart = next;
    // No cut right after the header: that part would hold no rows.
    if (skipHeader) {
      skipHeader = false;
      return;
    }
    records++;
    if (!blank) rows++;
    if (next >= size) return;
    let cut = options.targetRows !== undefined && rows >= options.targetRows;
    while (nextTarget < targets.length && targets[nextTarget]! <= next) {
      nextTarget++;
      cut = true;
    }
    if (cut) {
      closed.push({ start: partStart, end: next, rows, records });
      partStart = next;
      rows = 0;
      records = 0;
    }
  };

  for await (const b of blocks) {
    block = b;
    forEachCsvRecordStart(block, 0, state, (offset) => onRecordEnd(blockStart + offset));
    blockStart += block.length;
    if (block.length > 0) previousBlockLastByte = block[block.length - 1]!;
    yield* closed.splice(0);
  }
  if (blockStart !== size) {
    throw new RangeError(`CSV scan read ${blockStart} bytes of an object planned at ${size}`);
  }
  // The last record may lack its newline; a lone "\r" there is blank.
  if (recordStart < size) {
    const blank = size - recordStart === 1 && previousBlockLastByte === CR;
    if (skipHeader) skipHeader = false;
    else {
      records++;
      if (!blank) rows++;
    }
  }
  yield { start: partStart, end: size, rows, records };
}

/** The object's bytes as consecutive ranged reads of `blockSize`, for `planCsvSplits`. */
export async function* readBlocks(
  read: (start: number, end: number) => Promise<Uint8Array>,
  size: number,
  blockSize: number,
): AsyncGenerator<Uint8Array> {
  for (let start = 0; start < size; start += blockSize)
    yield await read(start, Math.min(size, start + blockSize));
}
