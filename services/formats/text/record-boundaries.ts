/**
 * Record boundaries in CSV and JSONL bytes, found with `indexOf` on single bytes (native memchr speed)
 * rather than per-character JavaScript loops.
 *
 * Why these work on raw UTF-8: every byte of a multi-byte UTF-8 sequence is >= 0x80, so a `"` (0x22) or
 * `\n` (0x0a) byte is always that character and never part of another one.
 *
 * CSV quoting (RFC 4180): a `"` opens a quoted field only at the start of a field, `""` inside it is an
 * escaped quote, and the next lone `"` closes it. For every valid file, "inside quotes" at a byte equals
 * "an odd number of `"` bytes since the last record start" (an escaped pair toggles twice), so the scanners
 * below track only that parity. A file that breaks the grammar (a stray quote mid-field) may be cut
 * differently, but the field parser rejects the record holding the stray quote with CSV_INVALID, and since
 * chunks tile the object, some chunk always reports it.
 *
 * Record ends are `\n` (a `\r` before it belongs to the line ending); lone-`\r` line endings are not
 * supported.
 */
import type { Storage } from '../../../jobs/ports/storage.js';
import type { ChunkPart } from '../../../schemas/chunk-descriptor.js';
import { BadDataError, type BadDataCode } from '../errors/bad-data-error.js';
import { RecordTooLong } from '../errors/record-too-long.js';

export const LF = 0x0a;
export const CR = 0x0d;
export const QUOTE = 0x22;

/** Parity state of a CSV scan, carried from one block to the next. */
export interface CsvScanState {
  inQuotes: boolean;
}

/**
 * Offset of the first CSV record start at or after `minStart` in `bytes`, scanning from `from` (a record
 * start or a point whose quote state is `state.inQuotes`). A record start is the byte after an unquoted
 * `\n`. Returns -1 when the buffer holds none; `state` then describes the end of the buffer, and on success
 * the found record start (which is always outside quotes).
 */
export function nextCsvRecordStart(
  bytes: Uint8Array,
  from: number,
  minStart: number,
  state: CsvScanState,
): number {
  const len = bytes.length;
  let pos = from;
  let inQuotes = state.inQuotes;
  let quote = bytes.indexOf(QUOTE, pos);
  // The next newline is cached so that a record with many quoted fields is not rescanned per field.
  let newline = -2;
  const searchFrom = Math.max(from, minStart - 1);
  for (;;) {
    if (inQuotes) {
      if (quote < 0) {
        state.inQuotes = true;
        return -1;
      }
      pos = quote + 1;
      inQuotes = false;
      quote = bytes.indexOf(QUOTE, pos);
      continue;
    }
    const segmentEnd = quote < 0 ? len : quote;
    const lookFrom = Math.max(pos, searchFrom);
    if (lookFrom < segmentEnd) {
      if (newline < lookFrom && newline !== -1) newline = bytes.indexOf(LF, lookFrom);
      if (newline >= 0 && newline < segmentEnd) {
        state.inQuotes = false;
        return newline + 1;
      }
    }
    if (quote < 0) {
      state.inQuotes = false;
      return -1;
    }
    inQuotes = true;
    pos = quote + 1;
    quote = bytes.indexOf(QUOTE, pos);
  }
}

/**
 * Offset of the last CSV record start in `bytes` after `from` (exclusive of `from` itself), or -1. `state`
 * gives the quote state at `from` and receives the state at the end of the buffer.
 */
export function lastCsvRecordStart(bytes: Uint8Array, from: number, state: CsvScanState): number {
  let pos = from;
  let inQuotes = state.inQuotes;
  let last = -1;
  let quote = bytes.indexOf(QUOTE, pos);
  let newline = -2;
  for (;;) {
    if (inQuotes) {
      if (quote < 0) {
        state.inQuotes = true;
        return last;
      }
      pos = quote + 1;
      inQuotes = false;
      quote = bytes.indexOf(QUOTE, pos);
      continue;
    }
    if (quote < 0) {
      // No quote left: every remaining newline is a record end, so one backward search finds the last.
      const lastNewline = bytes.lastIndexOf(LF);
      if (lastNewline >= pos) last = lastNewline + 1;
      state.inQuotes = false;
      return last;
    }
    if (newline !== -1) {
      if (newline < pos) newline = bytes.indexOf(LF, pos);
      while (newline >= 0 && newline < quote) {
        last = newline + 1;
        newline = bytes.indexOf(LF, newline + 1);
      }
    }
    inQuotes = true;
    pos = quote + 1;
    quote = bytes.indexOf(QUOTE, pos);
  }
}

/**
 * Calls `onRecordStart` with every CSV record start in `bytes` after `from`, in order. Used by the planner's
 * one pass over an object; `state` carries the quote parity across blocks. Quote and newline positions are
 * cached, so the pass is linear however the quotes fall.
 */
export function forEachCsvRecordStart(
  bytes: Uint8Array,
  from: number,
  state: CsvScanState,
  onRecordStart: (offset: number) => void,
): void {
  let pos = from;
  let inQuotes = state.inQuotes;
  let quote = bytes.indexOf(QUOTE, pos);
  let newline = bytes.indexOf(LF, pos);
  for (;;) {
    if (inQuotes) {
      if (quote < 0) break;
      pos = quote + 1;
      inQuotes = false;
      quote = bytes.indexOf(QUOTE, pos);
      continue;
    }
    const segmentEnd = quote < 0 ? bytes.length : quote;
    if (newline >= 0 && newline < pos) newline = bytes.indexOf(LF, pos);
    while (newline >= 0 && newline < segmentEnd) {
      onRecordStart(newline + 1);
      newline = bytes.indexOf(LF, newline + 1);
    }
    if (quote < 0) break;
    inQuotes = true;
    pos = quote + 1;
    quote = bytes.indexOf(QUOTE, pos);
  }
  state.inQuotes = inQuotes;
}

/**
 * JSONL: the first line owned by a part `[start, end)`, with the bytes already fetched from it on. A line
 * belongs to the part holding its first byte, so `start` is itself a line start exactly when the byte
 * before it is `\n`; otherwise the part's first line begins after the next `\n`. No quote state is
 * needed because JSON strings cannot hold a raw newline, which is why JSONL needs no planner scan.
 * Returns undefined when the part owns no line (the next line starts at or after `end`).
 */
export async function alignJsonlStart(
  read: (start: number, end: number) => Promise<Uint8Array>,
  start: number,
  end: number,
  size: number,
  blockSize: number,
): Promise<{ lineStart: number; prefetched: Uint8Array } | undefined> {
  if (start === 0) return { lineStart: 0, prefetched: new Uint8Array(0) };
  // Blocks before the first newline hold the tail of someone else's line: nothing of them is kept.
  let fetched = start - 1;
  for (;;) {
    const block = await read(
      fetched,
      Math.min(size, fetched + Math.max(1, Math.min(blockSize, end - fetched))),
    );
    if (block.length === 0) return undefined;
    const newline = block.indexOf(LF);
    if (newline >= 0) {
      const lineStart = fetched + newline + 1;
      return lineStart < end ? { lineStart, prefetched: block.subarray(newline + 1) } : undefined;
    }
    fetched += block.length;
    // A newline at or after `end - 1` would start a line that is not ours.
    if (fetched >= end - 1 || fetched >= size) return undefined;
  }
}

/**
 * Where a search for the last record start stopped having found none: the offset it reached and the CSV
 * quote state there. The next search over the same bytes, grown, starts from there.
 */
export interface ScanResume {
  from: number;
  inQuotes: boolean;
}

/** Finds record starts in a buffer that begins at a record start; one per text format. */
export interface RecordScanner {
  /** The format: names the error of a record over the size limit. */
  format: 'csv' | 'jsonl';
  /** First record start at or after `minStart` (> 0) in `bytes`, or -1 when the buffer holds none. */
  nextStart(bytes: Uint8Array, minStart: number): number;
  /**
   * Last record start in `bytes` after offset 0, or -1. With `resume` (from an earlier search over a
   * prefix of the same bytes that found none), only the bytes after `resume.from` are searched, and
   * `resume` is moved to the end: a record that grows read by read is scanned once in all.
   */
  lastStart(bytes: Uint8Array, resume?: ScanResume): number;
}

export const csvRecordScanner: RecordScanner = {
  format: 'csv',
  nextStart: (bytes, minStart) => nextCsvRecordStart(bytes, 0, minStart, { inQuotes: false }),
  lastStart: (bytes, resume) => {
    const from = resume?.from ?? 0;
    const state = { inQuotes: resume?.inQuotes ?? false };
    const last = lastCsvRecordStart(bytes.subarray(from), 0, state);
    if (resume) Object.assign(resume, { from: bytes.length, inQuotes: state.inQuotes });
    return last < 0 ? -1 : from + last;
  },
};

export const jsonlRecordScanner: RecordScanner = {
  format: 'jsonl',
  nextStart: (bytes, minStart) => {
    const newline = bytes.indexOf(LF, Math.max(0, minStart - 1));
    return newline < 0 ? -1 : newline + 1;
  },
  lastStart: (bytes, resume) => {
    const from = resume?.from ?? 0;
    const newline = bytes.subarray(from).lastIndexOf(LF);
    if (resume) resume.from = bytes.length;
    return newline < 0 ? -1 : from + newline + 1;
  },
};

/** How a text reader fetches an object; every value is in bytes. */
export interface TextReaderOptions {
  /** Size of each ranged read inside the part (default 1 MiB). */
  blockSize?: number;
  /**
   * Size of the first read past the part's end, to finish its last record; doubled while the record is
   * still open (default 64 KiB). Small, so a part reads little more than its own range.
   */
  tailBlockSize?: number;
  /** Bytes at the head of the object that give the header and the inferred schema (default 64 KiB). */
  headBytes?: number;
  /** Most rows per record batch (default 65,536). */
  batchRows?: number;
  /**
   * Longest record, line break excluded (default 64 MiB). A record that runs past it without ending (no
   * line breaks, or an unterminated quote) fails the read with `CSV_RECORD_TOO_LONG` /
   * `JSONL_RECORD_TOO_LONG` at its start, instead of growing one buffer over the rest of the object.
   */
  maxRecordBytes?: number;
}

export const DEFAULT_BLOCK_SIZE = 1 << 20;
export const DEFAULT_TAIL_BLOCK_SIZE = 64 << 10;
export const DEFAULT_HEAD_BYTES = 64 << 10;
export const DEFAULT_BATCH_ROWS = 65_536;
export const DEFAULT_MAX_RECORD_BYTES = 64 << 20;

/** Reader options with their defaults filled in. */
export function textReaderKnobs(options: TextReaderOptions): Required<TextReaderOptions> {
  return {
    blockSize: options.blockSize ?? DEFAULT_BLOCK_SIZE,
    tailBlockSize: options.tailBlockSize ?? DEFAULT_TAIL_BLOCK_SIZE,
    headBytes: options.headBytes ?? DEFAULT_HEAD_BYTES,
    batchRows: options.batchRows ?? DEFAULT_BATCH_ROWS,
    maxRecordBytes: options.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES,
  };
}

/**
 * The head of an object, with its first record whole: `headBytes`, doubled while the first record has not
 * ended. A first record longer than `maxRecordBytes` throws `RecordTooLong` at byte 0.
 */
export async function readHead(
  read: (start: number, end: number) => Promise<Uint8Array>,
  size: number,
  scanner: RecordScanner,
  uri: string,
  knobs: Pick<Required<TextReaderOptions>, 'headBytes' | 'maxRecordBytes'>,
): Promise<Uint8Array> {
  const { maxRecordBytes } = knobs;
  let head = await read(0, Math.min(size, knobs.headBytes));
  for (;;) {
    if (scanner.nextStart(head, 1) >= 0) return head;
    if (head.length > maxRecordBytes) throw new RecordTooLong(scanner.format, uri, 0, maxRecordBytes);
    if (head.length >= size) return head;
    head = await read(0, Math.min(size, head.length * 2, maxRecordBytes + 1));
  }
}

/** Bytes of whole records: `bytes` starts at absolute offset `offset`, at a record start. */
export interface RecordWindow {
  offset: number;
  bytes: Uint8Array;
}

export interface OwnedRecordsInput {
  /** The object, named by the error of a record over `maxRecordBytes`. */
  uri: string;
  /** Absolute offset of the first owned record start. */
  start: number;
  /** Records whose first byte is before `end` are owned. */
  end: number;
  /** Object size: no read goes past it, and the last record may lack its `\n`. */
  size: number;
  scanner: RecordScanner;
  read: (start: number, end: number) => Promise<Uint8Array>;
  /** Bytes already fetched from `start` on (the head block, an alignment read), reused rather than re-read. */
  prefetched?: Uint8Array;
  blockSize: number;
  tailBlockSize: number;
  /** Longest record, line break excluded; a longer one throws `RecordTooLong` at its start. */
  maxRecordBytes: number;
}

/**
 * Yields the records owned by `[start, end)` as windows of whole records: every record that starts at or
 * after `start` (a known record start) and before `end`, each exactly once. It reads in blocks up to `end`,
 * then in small growing blocks past it until the last owned record ends, so memory holds about one block
 * plus one record. The record that starts at or after `end` belongs to the next part and is never yielded.
 */
export async function* ownedRecordWindows(input: OwnedRecordsInput): AsyncGenerator<RecordWindow> {
  const { end, size, scanner, read, maxRecordBytes } = input;
  let offset = input.start;
  const pending = makeByteQueue(input.prefetched ?? new Uint8Array(0));
  let fetched = offset + pending.length();
  let tail = input.tailBlockSize;
  // The bytes already searched for a record start and found to hold none (relative to `offset`).
  const resume: ScanResume = { from: 0, inQuotes: false };
  const tooLong = (recordStart: number) =>
    new RecordTooLong(scanner.format, input.uri, recordStart, maxRecordBytes);
  while (offset < end) {
    let buffer = pending.bytes();
    if (offset + buffer.length >= end) {
      const stop = scanner.nextStart(buffer, end - offset);
      if (stop >= 0) {
        yield { offset, bytes: buffer.subarray(0, stop) };
        return;
      }
    }
    const last = scanner.lastStart(buffer, resume);
    if (fetched >= size) {
      // The object's last record may lack its line break; it is held to the limit all the same.
      const lastStart = Math.max(0, last);
      if (buffer.length - lastStart > maxRecordBytes) throw tooLong(offset + lastStart);
      if (buffer.length > 0) yield { offset, bytes: buffer };
      return;
    }
    if (last > 0) {
      yield { offset, bytes: buffer.subarray(0, last) };
      pending.consume(last);
      buffer = pending.bytes();
      offset += last;
      resume.from -= last;
    }
    // What is left is one record that has not ended yet.
    if (buffer.length > maxRecordBytes) throw tooLong(offset);
    let want: number;
    if (fetched < end) want = Math.min(input.blockSize, end - fetched);
    else {
      want = tail;
      tail *= 2;
    }
    // Never more than it takes to tell the open record is too long.
    want = Math.min(want, maxRecordBytes + 1 - buffer.length);
    const block = await read(fetched, Math.min(size, fetched + want));
    if (block.length === 0) throw new RangeError(`read past the end of the object at byte ${fetched}`);
    pending.append(block);
    fetched += block.length;
  }
}

/**
 * The unconsumed bytes of a part's reads. A block is appended into spare room at the end when there is
 * some, else into a new buffer with room for as much again as the queue holds, so a record that spans many
 * reads costs O(n) copies in all (concatenating every read onto it would cost O(n²)). Bytes once handed
 * out by `bytes()` are never overwritten: appends only write past them.
 */
function makeByteQueue(initial: Uint8Array) {
  let store = initial;
  let start = 0;
  let end = initial.length;
  // Whether `store` is ours to write into (blocks from storage, and the initial bytes, are not).
  let owned = false;
  return {
    length: () => end - start,
    bytes: () => store.subarray(start, end),
    consume(n: number): void {
      start += n;
    },
    append(block: Uint8Array): void {
      const length = end - start;
      if (length === 0) {
        [store, start, end, owned] = [block, 0, block.length, false];
      } else if (owned && end + block.length <= store.length) {
        store.set(block, end);
        end += block.length;
      } else {
        const grown = new Uint8Array(2 * length + block.length);
        grown.set(store.subarray(start, end), 0);
        grown.set(block, length);
        [store, start, end, owned] = [grown, 0, length + block.length, true];
      }
    },
  };
}

/** Byte range `[start, end)` of a text part; `whole` covers the object. */
export function partByteRange(part: ChunkPart): { start: number; end: number } {
  switch (part.range.kind) {
    case 'bytes':
      return { start: part.range.start, end: Math.min(part.range.end, part.size) };
    case 'whole':
      return { start: 0, end: part.size };
    default:
      throw new TypeError(`text parts are read by byte range, not by ${part.range.kind} (${part.uri})`);
  }
}

/** Ranged reads of one text part's object, and the part's byte range. */
export interface TextPartAccess {
  size: number;
  range: { start: number; end: number };
  read: (start: number, end: number) => Promise<Uint8Array>;
}

/** How a text reader reaches its part; undefined when the part holds no bytes. */
export function textPartAccess(
  storage: Storage,
  part: ChunkPart,
  signal?: AbortSignal,
): TextPartAccess | undefined {
  const range = partByteRange(part);
  if (part.size === 0 || range.start >= range.end) return undefined;
  const read = (start: number, end: number): Promise<Uint8Array> => {
    signal?.throwIfAborted();
    return storage.read(part.uri, { start, end }, { signal });
  };
  return { size: part.size, range, read };
}

// ignoreBOM keeps a BOM in the text, so character indexes still map to byte offsets; readers skip it.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Decodes a window of records; bytes that are not UTF-8 are bad data at the window's offset. */
export function decodeRecords(bytes: Uint8Array, uri: string, offset: number, code: BadDataCode): string {
  try {
    return utf8.decode(bytes);
  } catch (cause) {
    throw new BadDataError(code, 'bytes are not valid UTF-8', { uri, byteOffset: offset }, { cause });
  }
}

/** Absolute byte offset of a character index in text decoded from bytes that start at `offset`. */
export function byteOffsetOf(text: string, byteLength: number, offset: number, charIndex: number): number {
  // ASCII text (the common case) maps characters to bytes one to one; others are measured only on error.
  if (text.length === byteLength) return offset + charIndex;
  return offset + Buffer.byteLength(text.slice(0, charIndex), 'utf8');
}

/** Where a bad record sits within a part. */
export interface PartRecordLocation {
  uri: string;
  partStart: number;
  /** Object row of the part's first record, when known (the first part, or a planner-counted offset). */
  firstRow: number | undefined;
  /** Index of the record within the part (blank lines counted). */
  record: number;
  byteOffset: number;
  column?: string;
}

/**
 * The error for bad data in a part. A part that starts at the first data record knows the object row;
 * others would have to read the object from its start to count rows, so they name the absolute byte offset
 * and the record's index within the part instead, and say so.
 */
export function partRecordError(code: BadDataCode, detail: string, at: PartRecordLocation): BadDataError {
  const { uri, byteOffset, column } = at;
  if (at.firstRow !== undefined) {
    return new BadDataError(code, detail, { uri, row: at.firstRow + at.record, byteOffset, column });
  }
  const where = `record ${at.record} of the part starting at byte ${at.partStart}; its row number in the object is not known to this part`;
  return new BadDataError(code, `${detail} at ${where}`, { uri, byteOffset, column });
}
