/**
 * CSV reader: one byte range of one object → Arrow record batches (the grammar is in csv-grammar.ts).
 *
 * Splitting. A byte offset alone cannot tell whether it lies inside a quoted field (a quoted field may hold
 * newlines), so a CSV part's `start` must be a true record start. The planner guarantees that: it scans
 * each object once with quote tracking (`planCsvSplits` in text-split.ts) and cuts only at record starts.
 * The reader trusts `start` and checks the one thing it can check cheaply (the byte before it is a `\n`);
 * from there it parses with full quote state, so it finds every record boundary exactly, including the end
 * of the record that straddles `end`. The header (when on) is the object's first record: it belongs to no
 * part, and every part reads it from the object's head, along with the sample that fixes the schema.
 */
import type { RecordBatch } from 'apache-arrow';
import type { ChunkPart } from '../../../schemas/chunk-descriptor.js';
import type { Storage } from '../../../jobs/ports/storage.js';
import { BadDataError, type BadDataCode } from '../errors/bad-data-error.js';
import type { ColumnTypeName, FormatReader, ReadPartOptions } from '../format-reader.js';
import { makeRowOrigins } from './column-builders.js';
import { type TextColumn, arrowSchema, inferTextType, projectColumns } from './column-types.js';
import {
  type CsvRecordShape,
  buildCsvColumn,
  csvRecordEnd,
  isFault,
  makeCsvColumnCells,
  parseCsvRecord,
  parseCsvRecords,
  rollbackRow,
} from './csv-grammar.js';
import { type PartText, makeBatchTaker } from './invalid-records.js';
import {
  LF,
  byteOffsetOf,
  csvRecordScanner,
  decodeRecords,
  lastCsvRecordStart,
  nextCsvRecordStart,
  ownedRecordWindows,
  textPartAccess,
  partRecordError,
  readHead,
  textReaderKnobs,
  type TextReaderOptions,
} from './record-boundaries.js';

/** Most sample rows read from the head for inference. */
const SAMPLE_ROWS = 10_000;

/** Column names, types and the header's extent, read once per part from the object's head. */
export interface CsvLayout {
  columns: TextColumn[];
  /** Byte offset of the first data record (0 without a header). */
  dataStart: number;
}

/** Settings of one CSV read, after defaults. */
export interface CsvSettings {
  uri: string;
  header: boolean;
  delimiter: string;
  explicit: Record<string, ColumnTypeName>;
  /** Whether records with a wrong field count or a bad value are skipped rather than thrown. */
  skipInvalid?: boolean;
}

/**
 * Reads the header and the inference sample from the head of the object. Every part of one object reads
 * the same head bytes, so every part gets the same column names and types.
 */
export async function readCsvLayout(
  read: (start: number, end: number) => Promise<Uint8Array>,
  size: number,
  settings: CsvSettings,
  knobs: Pick<Required<TextReaderOptions>, 'headBytes' | 'maxRecordBytes'>,
): Promise<{ layout: CsvLayout; head: Uint8Array }> {
  const { uri, delimiter } = settings;
  // The first record must be whole; a header longer than the head block is read by doubling.
  const head = await readHead(read, size, csvRecordScanner, uri, knobs);
  let firstEnd = nextCsvRecordStart(head, 0, 1, { inQuotes: false });
  if (firstEnd < 0) firstEnd = head.length;
  const sampleEnd =
    head.length === size ? size : Math.max(firstEnd, lastCsvRecordStart(head, 0, { inQuotes: false }));
  const text = decodeRecords(head.subarray(0, sampleEnd), uri, 0, 'CSV_INVALID');
  const bom = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  const first = parseCsvRecord(text, bom, delimiter);
  if (isFault(first)) {
    throw new BadDataError(first.code, `${first.detail} in the first record`, {
      uri,
      row: settings.header ? undefined : 0,
      byteOffset: byteOffsetOf(text, sampleEnd, 0, first.at),
    });
  }
  const names = settings.header
    ? first.fields.map((f, i) => f ?? `column_${i + 1}`)
    : first.fields.map((_, i) => `column_${i + 1}`);
  const dataStart = settings.header ? byteOffsetOf(text, sampleEnd, 0, first.next) : 0;

  const sample = makeRowOrigins(SAMPLE_ROWS);
  const sampleCells = names.map((name) => makeCsvColumnCells({ name, type: 'string' }, SAMPLE_ROWS));
  const shape = { fieldCount: names.length, slots: Int32Array.from(names, (_, i) => i), delimiter };
  let stopped = parseCsvRecords(text, settings.header ? first.next : bom, shape, sample, sampleCells);
  // Records a skipping reader will refuse are left out of type inference too.
  while (settings.skipInvalid && typeof stopped !== 'number' && stopped.next !== undefined) {
    rollbackRow(sampleCells, sample.rows);
    stopped = parseCsvRecords(text, stopped.next, shape, sample, sampleCells);
  }
  if (typeof stopped !== 'number') {
    const dataRow = sample.records - 1;
    throw new BadDataError(stopped.code, stopped.detail, {
      uri,
      row: dataRow,
      byteOffset: byteOffsetOf(text, sampleEnd, 0, stopped.recordStart),
    });
  }
  for (const name of Object.keys(settings.explicit)) {
    if (!names.includes(name)) {
      throw new BadDataError('SCHEMA_MISMATCH', `the schema names column "${name}", which the object lacks`, {
        uri,
        column: name,
      });
    }
  }
  const columns = names.map((name, i) => ({
    name,
    type: settings.explicit[name] ?? inferTextType(sampleCells[i]!.strings.slice(0, sample.rows)),
  }));
  return { layout: { columns, dataStart }, head };
}

/**
 * The exact CSV `FormatReader`: Quiver's own parser, record by record. It is the reference the DuckDB path
 * (csv-duckdb-reader.ts) is tested against, and the path that reads any range DuckDB refuses, so errors and
 * skipped records keep their exact row, byte offset and text. Parts must start at record starts (see the
 * file comment); `readerOptions` tune the reads and batch size.
 */
export function makeExactCsvReader(readerOptions: TextReaderOptions = {}): FormatReader {
  const knobs = textReaderKnobs(readerOptions);
  return { readPart: (storage, part, options) => readCsvPartExact(storage, part, options ?? {}, knobs) };
}

/** Checks the delimiter option and fills in the settings' defaults. */
export function csvSettings(uri: string, options: ReadPartOptions): CsvSettings {
  const delimiter = options.delimiter ?? ',';
  if (delimiter.length !== 1 || delimiter === '"' || delimiter === '\n' || delimiter === '\r') {
    throw new TypeError(
      `CSV delimiter must be one character other than a quote or line break, got "${delimiter}"`,
    );
  }
  return {
    uri,
    header: options.header ?? true,
    delimiter,
    explicit: options.schema ?? {},
    skipInvalid: options.onInvalidRecord !== undefined,
  };
}

export async function* readCsvPartExact(
  storage: Storage,
  part: ChunkPart,
  options: ReadPartOptions,
  knobs: Required<TextReaderOptions>,
): AsyncGenerator<RecordBatch> {
  const uri = part.uri;
  const settings = csvSettings(uri, options);
  const { delimiter } = settings;
  const access = textPartAccess(storage, part, options.signal);
  if (!access) return;
  const { read, size, range } = access;

  const { layout, head } = await readCsvLayout(read, size, settings, knobs);
  const projection = projectColumns(layout.columns, options.columns, uri);
  const outColumns = projection.map((i) => layout.columns[i]!);
  const schema = arrowSchema(outColumns);
  const slots = new Int32Array(layout.columns.length).fill(-1);
  projection.forEach((fieldIndex, slot) => {
    slots[fieldIndex] = slot;
  });

  // The header is no part's record: a part that starts inside it starts at the first data record.
  const start = Math.max(range.start, layout.dataStart);
  const end = range.end;
  if (start >= end) return;
  if (start > 0) {
    const before = start <= head.length ? head.subarray(start - 1, start) : await read(start - 1, start);
    if (before[0] !== LF) {
      throw new RangeError(
        `CSV part of ${uri} starts at byte ${start}, which is not a record start; CSV parts must come from the planner`,
      );
    }
  }
  // The first part starts at row 0; others know their first row when the planner counted records.
  const firstRow =
    start === layout.dataStart ? 0 : part.range.kind === 'bytes' ? part.range.rowOffset : undefined;
  const fault = (code: BadDataCode, detail: string, record: number, byteOffset: number, column?: string) =>
    partRecordError(code, detail, { uri, partStart: start, firstRow, record, byteOffset, column });

  const shape: CsvRecordShape = { fieldCount: layout.columns.length, slots, delimiter };
  const target = makeRowOrigins(knobs.batchRows);
  const newCells = () => outColumns.map((column) => makeCsvColumnCells(column, knobs.batchRows));
  let cells = newCells();
  // Texts the current batch's rows come from, to turn a bad value's character index into a byte offset.
  const texts: PartText[] = [];
  const taker = makeBatchTaker({
    schema,
    columns: outColumns,
    target,
    texts,
    fault,
    describeValue: (value) => `"${value}"`,
    recordEnd: (text, start) => csvRecordEnd(text, start, delimiter),
    ...(options.onInvalidRecord ? { onInvalidRecord: options.onInvalidRecord } : {}),
  });
  const windows = ownedRecordWindows({
    uri,
    start,
    end,
    size,
    scanner: csvRecordScanner,
    read,
    prefetched: start < head.length ? head.subarray(start) : undefined,
    blockSize: knobs.blockSize,
    tailBlockSize: knobs.tailBlockSize,
    maxRecordBytes: knobs.maxRecordBytes,
  });
  yield* taker.batches(windows, {
    uri,
    decodeCode: 'CSV_INVALID',
    parse: (text, at) => {
      const stopped = parseCsvRecords(text, at, shape, target, cells);
      if (typeof stopped === 'number') return stopped;
      const { code, detail, recordStart, next, column } = stopped;
      return {
        code,
        detail,
        start: recordStart,
        ...(next === undefined ? {} : { next }),
        column: column?.name,
      };
    },
    rollback: (row) => rollbackRow(cells, row),
    build: (slot, _, length, onBad) => buildCsvColumn(cells[slot]!, length, onBad),
    // Arrow now owns the typed arrays; the next batch gets fresh ones.
    afterTake: () => (cells = newCells()),
  });
}
