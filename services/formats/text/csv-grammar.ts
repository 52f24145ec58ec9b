/**
 * CSV grammar: records split into fields, and fields stored into the cells of the batch being gathered.
 *
 * Grammar: RFC 4180 with `\n` or `\r\n` record ends; a blank line is skipped (as DuckDB and polars do) but
 * still counts in row numbering; an unquoted empty field is null, a quoted empty field an empty string.
 *
 * Parsing is hand-written over strings with cached `indexOf` positions, quote-free records on a fast path,
 * and numbers parsed in place into typed arrays. Measured on 1 M rows of id + 16 float columns (2-core
 * EPYC, Node 20): csv-parse 7 alone, yielding untyped string arrays, ran 0.2 M rows/s; this reader, through
 * to Arrow batches, 0.8–0.9 M rows/s, so no dependency was added.
 */
import type { BadDataCode } from '../errors/bad-data-error.js';
import { type BuiltColumn, type RowOrigins, buildColumn, commitRow, numericData } from './column-builders.js';
import type { TextColumn } from './column-types.js';
import { LF } from './record-boundaries.js';
import { parseInt64, parseNumber, parseSmallIntAt, storeDecimalAt } from './value-parsers.js';

/** A parse failure inside one record, at a character index of the text being parsed. */
interface RecordFault {
  code: BadDataCode;
  detail: string;
  at: number;
}

/**
 * Splits one CSV record at `from` into its fields, handling quotes. Returns the fields (undefined = unquoted
 * empty) and the index of the next record, or a fault. Used for the header and for records that hold quotes.
 */
export function parseCsvRecord(
  text: string,
  from: number,
  delimiter: string,
): { fields: (string | undefined)[]; next: number } | RecordFault {
  const delim = delimiter.charCodeAt(0);
  const n = text.length;
  const fields: (string | undefined)[] = [];
  let pos = from;
  let lineEnd = -1;
  let nextDelim = -1;
  let nextQuote = -1;
  for (;;) {
    if (text.charCodeAt(pos) === 0x22) {
      let value = '';
      let p = pos + 1;
      for (;;) {
        const q = text.indexOf('"', p);
        if (q < 0) return { code: 'CSV_INVALID', detail: 'unterminated quoted field', at: pos };
        if (text.charCodeAt(q + 1) === 0x22) {
          value += text.slice(p, q + 1);
          p = q + 2;
          continue;
        }
        value += text.slice(p, q);
        p = q + 1;
        break;
      }
      fields.push(value);
      const c = text.charCodeAt(p);
      if (c === delim) {
        pos = p + 1;
        continue;
      }
      if (p === n) return { fields, next: n };
      if (c === LF) return { fields, next: p + 1 };
      if (c === 0x0d && (p + 1 === n || text.charCodeAt(p + 1) === LF)) return { fields, next: p + 2 };
      return { code: 'CSV_INVALID', detail: 'unexpected character after a closing quote', at: p };
    }
    // Positions are searched again only once passed, so a long record with many fields stays linear.
    if (lineEnd < pos) lineEnd = indexOr(text, '\n', pos, n);
    if (nextDelim < pos) nextDelim = indexOr(text, delimiter, pos, n + 1);
    if (nextQuote < pos) nextQuote = indexOr(text, '"', pos, n + 1);
    let fieldEnd = nextDelim;
    const last = fieldEnd > lineEnd;
    if (last) fieldEnd = lineEnd > pos && text.charCodeAt(lineEnd - 1) === 0x0d ? lineEnd - 1 : lineEnd;
    const quote = nextQuote;
    if (quote < fieldEnd) {
      return { code: 'CSV_INVALID', detail: 'quote inside an unquoted field', at: quote };
    }
    fields.push(fieldEnd > pos ? text.slice(pos, fieldEnd) : undefined);
    if (last) return { fields, next: lineEnd < n ? lineEnd + 1 : n };
    pos = fieldEnd + 1;
  }
}

/**
 * Where the record at `start` ends: the start of the next record, or, when the record does not parse, the
 * next line break (the end of the text when there is none).
 */
export function csvRecordEnd(text: string, start: number, delimiter: string): number {
  const parsed = parseCsvRecord(text, start, delimiter);
  return isFault(parsed) ? indexOr(text, '\n', start, text.length) : parsed.next;
}

function indexOr(text: string, search: string, from: number, none: number): number {
  const i = text.indexOf(search, from);
  return i < 0 ? none : i;
}

/** Whether `parseCsvRecord` stopped at a fault rather than a record's end. */
export function isFault(r: { fields: (string | undefined)[]; next: number } | RecordFault): r is RecordFault {
  return 'code' in r;
}

/** What a CSV record must look like and where its fields go. */
export interface CsvRecordShape {
  /** Fields each record must have. */
  fieldCount: number;
  /** Output column of each field, or -1 for a field not read. */
  slots: Int32Array;
  delimiter: string;
}

const TEXT = 0;
const FLOAT = 1;
const INT64 = 2;

/**
 * Cells of one output column for the batch being gathered. Float and int64 columns are parsed in place into
 * typed arrays as the record is split, with no substring per cell (substrings, not parsing, dominated the
 * cost and the garbage collection of numeric files); other types keep their text for `buildColumn`.
 */
export interface CsvColumnCells {
  column: TextColumn;
  mode: typeof TEXT | typeof FLOAT | typeof INT64;
  floats: Float64Array;
  ints: BigInt64Array;
  /** Validity bits of `floats`/`ints` (set = not null) and the nulls among them. */
  validity: Uint8Array;
  nulls: number;
  strings: (string | undefined)[];
}

const EMPTY_F64 = new Float64Array(0);
const EMPTY_I64 = new BigInt64Array(0);

export function makeCsvColumnCells(column: TextColumn, maxRows: number): CsvColumnCells {
  const mode =
    column.type === 'float64' || column.type === 'float32' ? FLOAT : column.type === 'int64' ? INT64 : TEXT;
  return {
    column,
    mode,
    floats: mode === FLOAT ? new Float64Array(maxRows) : EMPTY_F64,
    ints: mode === INT64 ? new BigInt64Array(maxRows) : EMPTY_I64,
    validity: new Uint8Array(mode === TEXT ? 0 : (maxRows + 7) >> 3),
    nulls: 0,
    strings: mode === TEXT ? new Array<string | undefined>(maxRows) : [],
  };
}

/**
 * Stores the field `text[a, b)` (`quoted` text already unescaped when `a` is 0 and `b` its length) in row
 * `row`; false when a numeric field does not parse. An empty field is null (but a quoted empty string
 * stays an empty string in a string column).
 */
function setCell(
  cells: CsvColumnCells,
  row: number,
  text: string,
  a: number,
  b: number,
  quoted: boolean,
): boolean {
  const mode = cells.mode;
  if (mode === TEXT) {
    cells.strings[row] = b > a || quoted ? text.slice(a, b) : undefined;
    return true;
  }
  if (b === a) {
    cells.nulls++;
    return true;
  }
  if (mode === FLOAT) {
    if (!storeDecimalAt(text, a, b, cells.floats, row)) {
      const general = parseNumber(text.slice(a, b));
      if (general === undefined) return false;
      cells.floats[row] = general;
    }
  } else {
    const v = parseSmallIntAt(text, a, b);
    if (v === v) cells.ints[row] = BigInt(v);
    else {
      const general = parseInt64(text.slice(a, b));
      if (general === undefined) return false;
      cells.ints[row] = general;
    }
  }
  cells.validity[row >> 3]! |= 1 << (row & 7);
  return true;
}

/**
 * A malformed record, or a field that does not parse as its column's type (with the column). `next` is
 * where the following record starts when the fault is confined to this record (a wrong field count, a bad
 * value), so a reader that skips invalid records can go on; absent when the record's end is unknown.
 */
export type CsvFault = RecordFault & { recordStart: number; column?: TextColumn; next?: number };

/**
 * Parses whole records of `text` from `from` into `columns` until the text ends or the batch is full.
 * Returns the index where it stopped, or a fault (with the record's start) for a malformed record.
 */
export function parseCsvRecords(
  text: string,
  from: number,
  shape: CsvRecordShape,
  origins: RowOrigins,
  columns: CsvColumnCells[],
): number | CsvFault {
  const n = text.length;
  const { fieldCount, slots, delimiter } = shape;
  const maxRows = origins.maxRows;
  // Cached next positions, so that each search runs once over the text whatever the record shapes.
  let nextNewline = -2;
  let nextQuote = -2;
  let nextDelim = -2;
  let i = from;
  while (i < n && origins.rows < maxRows) {
    if (nextNewline < i && nextNewline !== -1) nextNewline = text.indexOf('\n', i);
    if (nextQuote < i && nextQuote !== -1) nextQuote = text.indexOf('"', i);
    const lineEnd = nextNewline < 0 ? n : nextNewline;
    const next = nextNewline < 0 ? n : nextNewline + 1;
    const record = origins.records++;
    const row = origins.rows;
    if (nextQuote < 0 || nextQuote >= lineEnd) {
      const e = lineEnd > i && text.charCodeAt(lineEnd - 1) === 0x0d ? lineEnd - 1 : lineEnd;
      if (e === i) {
        i = next;
        continue;
      }
      let a = i;
      let field = 0;
      for (;;) {
        if (nextDelim < a && nextDelim !== -1) nextDelim = text.indexOf(delimiter, a);
        const b = nextDelim < 0 || nextDelim > e ? e : nextDelim;
        if (field < fieldCount) {
          const slot = slots[field]!;
          if (slot >= 0 && !setCell(columns[slot]!, row, text, a, b, false)) {
            return invalidValue(columns[slot]!.column, text.slice(a, b), i, next);
          }
        }
        field++;
        if (b === e) break;
        a = b + 1;
      }
      if (field !== fieldCount) return ragged(fieldCount, field, i, next);
      commitRow(origins, record, i);
      i = next;
      continue;
    }
    const parsed = parseCsvRecord(text, i, delimiter);
    if (isFault(parsed)) return { ...parsed, recordStart: i };
    if (parsed.fields.length !== fieldCount) return ragged(fieldCount, parsed.fields.length, i, parsed.next);
    for (let field = 0; field < fieldCount; field++) {
      const slot = slots[field]!;
      if (slot < 0) continue;
      const value = parsed.fields[field];
      const ok =
        value === undefined
          ? setCell(columns[slot]!, row, '', 0, 0, false)
          : setCell(columns[slot]!, row, value, 0, value.length, true);
      if (!ok) return invalidValue(columns[slot]!.column, value ?? '', i, parsed.next);
    }
    commitRow(origins, record, i);
    i = parsed.next;
  }
  return i;
}

function ragged(expected: number, found: number, recordStart: number, next: number): CsvFault {
  const detail = `expected ${expected} fields, found ${found}`;
  return { code: 'CSV_RAGGED_ROW', detail, at: recordStart, recordStart, next };
}

function invalidValue(column: TextColumn, value: string, recordStart: number, next: number): CsvFault {
  const detail = `"${value}" is not a valid ${column.type}`;
  return { code: 'VALUE_INVALID', detail, at: recordStart, recordStart, column, next };
}

/**
 * Undoes what a skipped record wrote into row `row` before its fault: validity bits and null counts (a
 * later record overwrites the values themselves). Rows before `row` are whole, so the null count is the
 * number of unset bits among them.
 */
export function rollbackRow(cells: readonly CsvColumnCells[], row: number): void {
  for (const c of cells) {
    if (c.mode === TEXT) continue;
    c.validity[row >> 3]! &= ~(1 << (row & 7));
    let valid = 0;
    for (let r = 0; r < row; r++) valid += (c.validity[r >> 3]! >> (r & 7)) & 1;
    c.nulls = row - valid;
  }
}

/** Builds one gathered column into Arrow data; text-kept types are parsed here. */
export function buildCsvColumn(
  cells: CsvColumnCells,
  length: number,
  onBad?: (row: number, value: string) => void,
): BuiltColumn {
  const { column } = cells;
  if (cells.mode === TEXT)
    return buildColumn(column.type, { kind: 'text', values: cells.strings }, length, onBad);
  const type = column.type === 'int64' ? 'int64' : column.type === 'float32' ? 'float32' : 'float64';
  const values = cells.mode === INT64 ? cells.ints.subarray(0, length) : cells.floats.subarray(0, length);
  return { ok: true, data: numericData(type, values, cells.validity, cells.nulls, length) };
}
