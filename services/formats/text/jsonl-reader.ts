/**
 * JSONL reader: one byte range of one object → Arrow record batches.
 *
 * Splitting needs no planner scan: a record is a line, and JSON strings cannot hold a raw newline, so any
 * byte offset is aligned by looking at the byte before it and, if that is not `\n`, skipping to the next
 * line (`alignJsonlStart`). Any set of split offsets therefore reads every line exactly once.
 *
 * Each non-blank line must be a JSON object; its keys are columns. Columns and their types come from the
 * object's head (the first `headBytes`), so every part of one object agrees: keys in order of first
 * appearance there, then any columns the explicit schema adds. Keys that first appear later are not read;
 * missing keys are null. Blank lines are skipped but still count in row numbering, so a row number is the
 * 0-based line number.
 */
import type { RecordBatch } from 'apache-arrow';
import type { ChunkPart } from '../../../schemas/chunk-descriptor.js';
import type { Storage } from '../../../jobs/ports/storage.js';
import { BadDataError, type BadDataCode } from '../errors/bad-data-error.js';
import { type PartText, makeBatchTaker } from './invalid-records.js';
import type { ColumnTypeName, FormatReader, ReadPartOptions } from '../format-reader.js';
import {
  LF,
  alignJsonlStart,
  byteOffsetOf,
  decodeRecords,
  jsonlRecordScanner,
  ownedRecordWindows,
  textPartAccess,
  partRecordError,
  readHead,
  textReaderKnobs,
  type TextReaderOptions,
} from './record-boundaries.js';
import { buildColumn, commitRow, makeRowOrigins, type RowOrigins } from './column-builders.js';
import { type TextColumn, arrowSchema, inferJsonType, projectColumns } from './column-types.js';

/** Most sample rows read from the head for inference. */
const SAMPLE_ROWS = 10_000;

/** A line that is not a JSON object, at a character index of the text being parsed. */
interface LineFault {
  code: BadDataCode;
  detail: string;
  lineStart: number;
  /** Where the next line starts: a bad line never spills into the next one. */
  next: number;
}

/**
 * Parses the lines of `text` from `from` into `target` until the text ends or the batch is full; for each
 * object, `onObject` receives it and the row it fills. Returns where it stopped, or the first bad line.
 */
export function parseJsonLines(
  text: string,
  from: number,
  target: RowOrigins,
  onObject: (record: Record<string, unknown>, row: number) => void,
): number | LineFault {
  const n = text.length;
  let i = from;
  while (i < n && target.rows < target.maxRows) {
    const newline = text.indexOf('\n', i);
    const lineEnd = newline < 0 ? n : newline;
    const next = newline < 0 ? n : newline + 1;
    const record = target.records++;
    const line = text.slice(i, lineEnd);
    // Whitespace-only lines (including a lone \r) are blank; JSON.parse itself allows the \r before \n.
    if (line.length === 0 || (line.charCodeAt(0) <= 0x20 && line.trim() === '')) {
      i = next;
      continue;
    }
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (cause) {
      const reason = cause instanceof Error ? cause.message : String(cause);
      return { code: 'JSONL_INVALID_JSON', detail: `line is not valid JSON: ${reason}`, lineStart: i, next };
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      const kind = value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`;
      return {
        code: 'JSONL_INVALID_RECORD',
        detail: `line is ${kind}, not a JSON object`,
        lineStart: i,
        next,
      };
    }
    onObject(value as Record<string, unknown>, target.rows);
    commitRow(target, record, i);
    i = next;
  }
  return i;
}

/**
 * Columns of the object from its head: keys in order of first appearance in the sampled lines, then the
 * explicit schema's other columns; types explicit or inferred from the sampled values.
 */
export async function readJsonlLayout(
  read: (start: number, end: number) => Promise<Uint8Array>,
  size: number,
  uri: string,
  explicit: Record<string, ColumnTypeName>,
  knobs: Pick<Required<TextReaderOptions>, 'headBytes' | 'maxRecordBytes'>,
  /** Leave lines that are not JSON objects out of the sample instead of throwing (a skipping read). */
  skipInvalid = false,
): Promise<{ columns: TextColumn[]; head: Uint8Array }> {
  // At least one whole line is sampled, however long the first line is (up to the record limit).
  const head = await readHead(read, size, jsonlRecordScanner, uri, knobs);
  const sampleEnd = head.length === size ? size : head.lastIndexOf(LF) + 1;
  const text = decodeRecords(head.subarray(0, sampleEnd), uri, 0, 'JSONL_INVALID_JSON');
  const values = new Map<string, unknown[]>();
  const sample = makeRowOrigins(SAMPLE_ROWS);
  const collect = (record: Record<string, unknown>, row: number): void => {
    for (const key of Object.keys(record)) {
      let column = values.get(key);
      if (column === undefined) values.set(key, (column = []));
      column[row] = record[key];
    }
  };
  let stopped = parseJsonLines(text, text.charCodeAt(0) === 0xfeff ? 1 : 0, sample, collect);
  while (skipInvalid && typeof stopped !== 'number')
    stopped = parseJsonLines(text, stopped.next, sample, collect);
  if (typeof stopped !== 'number') {
    const byteOffset = byteOffsetOf(text, sampleEnd, 0, stopped.lineStart);
    throw new BadDataError(stopped.code, stopped.detail, { uri, row: sample.records - 1, byteOffset });
  }
  const columns: TextColumn[] = [...values].map(([name, sampled]) => ({
    name,
    type: explicit[name] ?? inferJsonType(sampled),
  }));
  for (const [name, type] of Object.entries(explicit)) {
    if (!values.has(name)) columns.push({ name, type });
  }
  return { columns, head };
}

/**
 * The object's columns from its head (`readJsonlLayout`; a skipping read leaves bad sample lines out) and
 * those the read projects, in its order.
 */
export async function jsonlPartColumns(
  read: (start: number, end: number) => Promise<Uint8Array>,
  size: number,
  uri: string,
  options: ReadPartOptions,
  knobs: Pick<Required<TextReaderOptions>, 'headBytes' | 'maxRecordBytes'>,
): Promise<{ outColumns: TextColumn[]; head: Uint8Array }> {
  const explicit = options.schema ?? {};
  const { columns, head } = await readJsonlLayout(
    read,
    size,
    uri,
    explicit,
    knobs,
    options.onInvalidRecord !== undefined,
  );
  return { outColumns: projectColumns(columns, options.columns, uri).map((i) => columns[i]!), head };
}

/**
 * The exact JSONL `FormatReader` (the DuckDB one, jsonl-duckdb-reader.ts, falls back to it); parts may
 * start and end at any byte.
 */
export function makeJsonlReader(readerOptions: TextReaderOptions = {}): FormatReader {
  const knobs = textReaderKnobs(readerOptions);
  return { readPart: (storage, part, options) => readJsonlPartExact(storage, part, options ?? {}, knobs) };
}

/** One part read by the exact parser: `JSON.parse` per line, each value converted to its column's type. */
export async function* readJsonlPartExact(
  storage: Storage,
  part: ChunkPart,
  options: ReadPartOptions,
  knobs: Required<TextReaderOptions>,
): AsyncGenerator<RecordBatch> {
  const uri = part.uri;
  const access = textPartAccess(storage, part, options.signal);
  if (!access) return;
  const { read, size, range } = access;

  const { outColumns, head } = await jsonlPartColumns(read, size, uri, options, knobs);
  const names = outColumns.map((c) => c.name);
  const schema = arrowSchema(outColumns);

  const aligned =
    range.start === 0
      ? { lineStart: 0, prefetched: head }
      : await alignJsonlStart(read, range.start, range.end, size, knobs.blockSize);
  if (aligned === undefined) return;
  const start = aligned.lineStart;
  const firstRow = start === 0 ? 0 : undefined;
  const fault = (code: BadDataCode, detail: string, record: number, byteOffset: number, column?: string) =>
    partRecordError(code, detail, { uri, partStart: start, firstRow, record, byteOffset, column });

  const target = makeRowOrigins(knobs.batchRows);
  const texts: PartText[] = [];
  const cells = outColumns.map(() => new Array<unknown>(knobs.batchRows));
  const fill = (record: Record<string, unknown>, row: number): void => {
    for (let slot = 0; slot < names.length; slot++) cells[slot]![row] = record[names[slot]!];
  };

  const taker = makeBatchTaker({
    schema,
    columns: outColumns,
    target,
    texts,
    fault,
    describeValue: (value) => value,
    recordEnd: (text, start) => {
      const end = text.indexOf('\n', start);
      return end < 0 ? text.length : end;
    },
    ...(options.onInvalidRecord ? { onInvalidRecord: options.onInvalidRecord } : {}),
  });
  const windows = ownedRecordWindows({
    uri,
    start,
    end: range.end,
    size,
    scanner: jsonlRecordScanner,
    read,
    prefetched: aligned.prefetched,
    blockSize: knobs.blockSize,
    tailBlockSize: knobs.tailBlockSize,
    maxRecordBytes: knobs.maxRecordBytes,
  });
  yield* taker.batches(windows, {
    uri,
    decodeCode: 'JSONL_INVALID_JSON',
    parse: (text, at) => {
      const stopped = parseJsonLines(text, at, target, fill);
      if (typeof stopped === 'number') return stopped;
      return { code: stopped.code, detail: stopped.detail, start: stopped.lineStart, next: stopped.next };
    },
    build: (slot, column, length, onBad) =>
      buildColumn(column.type, { kind: 'json', values: cells[slot]! }, length, onBad),
  });
}
