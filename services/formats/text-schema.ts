/**
 * Column types of text formats (CSV, JSONL): inference from sample values, Arrow types, and column
 * building from text cells or JSON values straight into typed arrays (no per-row Arrow builders).
 *
 * Inference must give the same schema for every chunk of one object, so callers feed it values from the
 * object's head only, never from a chunk's own bytes.
 */
import {
  Bool,
  Field,
  Float32,
  Float64,
  Int32,
  Int64,
  RecordBatch,
  Schema,
  Struct,
  TimestampMillisecond,
  Utf8,
  makeData,
  type Data,
  type DataType,
} from 'apache-arrow';
import { BadDataError } from './errors/bad-data-error.js';
import type { ColumnTypeName } from './format-reader.js';

/** A column of a text object: its name and type, in object order. */
export interface TextColumn {
  name: string;
  type: ColumnTypeName;
}

/**
 * Arrow type for a column type name. Timestamps are UTC milliseconds: ISO 8601 values without an offset
 * are read as UTC, so every chunk and every worker reads the same instant whatever its time zone.
 */
export function arrowType(type: ColumnTypeName): DataType {
  switch (type) {
    case 'int32':
      return new Int32();
    case 'int64':
      return new Int64();
    case 'float32':
      return new Float32();
    case 'float64':
      return new Float64();
    case 'bool':
      return new Bool();
    case 'string':
      return new Utf8();
    case 'timestamp':
      return new TimestampMillisecond('UTC');
  }
}

/** The Arrow schema of `columns`; every field is nullable (empty field / missing key → null). */
export function arrowSchema(columns: readonly TextColumn[]): Schema {
  return new Schema(columns.map((c) => new Field(c.name, arrowType(c.type), true)));
}

const INT_TEXT = /^[+-]?\d{1,18}$/;
const FLOAT_TEXT = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$|^[+-]?(?:nan|inf|infinity)$/i;
const BOOL_TEXT = /^(?:true|false)$/i;
const TIMESTAMP_TEXT =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?(Z|z|[+-]\d{2}(?::?\d{2})?)?$/;

/**
 * The narrowest type that holds every sampled CSV cell: int64, then float64, bool, timestamp, else string.
 * Null (undefined) and empty cells say nothing; a column with no values is a string column. Integers of 19
 * digits are left to float64/string because they may not fit int64.
 */
export function inferTextType(values: Iterable<string | undefined>): ColumnTypeName {
  let int = true;
  let float = true;
  let bool = true;
  let timestamp = true;
  let seen = false;
  for (const v of values) {
    if (v === undefined || v === '') continue;
    seen = true;
    if (int && !INT_TEXT.test(v)) int = false;
    if (float && !int && !FLOAT_TEXT.test(v)) float = false;
    if (bool && !BOOL_TEXT.test(v)) bool = false;
    if (timestamp && parseTimestamp(v) === undefined) timestamp = false;
    if (!int && !float && !bool && !timestamp) return 'string';
  }
  if (!seen) return 'string';
  if (int) return 'int64';
  if (float) return 'float64';
  if (bool) return 'bool';
  if (timestamp) return 'timestamp';
  return 'string';
}

/**
 * The type of sampled JSON values: integers → int64, numbers → float64, booleans → bool, ISO 8601 strings →
 * timestamp, other strings → string. Mixed kinds, objects and arrays → string (objects as JSON text).
 * JSON's own types are kept: the string "12" stays a string.
 */
export function inferJsonType(values: Iterable<unknown>): ColumnTypeName {
  let kind: 'int' | 'float' | 'bool' | 'timestamp' | 'string' | undefined;
  for (const v of values) {
    if (v === null || v === undefined) continue;
    let k: typeof kind;
    if (typeof v === 'number') k = Number.isInteger(v) ? 'int' : 'float';
    else if (typeof v === 'boolean') k = 'bool';
    else if (typeof v === 'string') k = parseTimestamp(v) === undefined ? 'string' : 'timestamp';
    else return 'string';
    if (kind === undefined || kind === k) kind = k;
    else if ((kind === 'int' && k === 'float') || (kind === 'float' && k === 'int')) kind = 'float';
    else if ((kind === 'timestamp' && k === 'string') || (kind === 'string' && k === 'timestamp'))
      kind = 'string';
    else return 'string';
  }
  switch (kind) {
    case 'int':
      return 'int64';
    case 'float':
      return 'float64';
    case 'bool':
      return 'bool';
    case 'timestamp':
      return 'timestamp';
    default:
      return 'string';
  }
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
// Date.UTC maps years 0–99 to 1900–1999; 400 Gregorian years later the calendar repeats exactly.
const FOUR_CENTURIES_MS = 146_097 * 86_400_000;

/** Milliseconds since the epoch (UTC) of an ISO 8601 date or date-time, or undefined when it is not one. */
export function parseTimestamp(text: string): number | undefined {
  const m = TIMESTAMP_TEXT.exec(text);
  if (m === null) return undefined;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  const hour = m[4] === undefined ? 0 : Number(m[4]);
  const minute = m[5] === undefined ? 0 : Number(m[5]);
  const second = m[6] === undefined ? 0 : Number(m[6]);
  const millis = m[7] === undefined ? 0 : Math.floor(Number(`0.${m[7]}`) * 1000);
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  const monthDays = month === 2 && leap ? 29 : DAYS_IN_MONTH[month - 1];
  if (monthDays === undefined || day < 1 || day > monthDays || hour > 23 || minute > 59 || second > 59) {
    return undefined;
  }
  let offsetMinutes = 0;
  const zone = m[8];
  if (zone !== undefined && zone !== 'Z' && zone !== 'z') {
    const sign = zone.startsWith('-') ? -1 : 1;
    const digits = zone.slice(1).replace(':', '');
    offsetMinutes = sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2) || '0'));
  }
  const shift = year < 100 ? 400 : 0;
  const ms =
    Date.UTC(year + shift, month - 1, day, hour, minute, second, millis) - (shift ? FOUR_CENTURIES_MS : 0);
  return ms - offsetMinutes * 60_000;
}

/** A number from text, or undefined. Accepts what `Number` does plus nan/inf spellings; not blank text. */
export function parseNumber(text: string): number | undefined {
  const n = Number(text);
  if (n === n && (n !== 0 || /\d/.test(text))) return n;
  const lower = text.trim().toLowerCase();
  if (lower === 'nan' || lower === '+nan' || lower === '-nan') return NaN;
  if (lower === 'inf' || lower === '+inf') return Infinity;
  if (lower === '-inf') return -Infinity;
  return undefined;
}

/** A boolean from text: true/false, t/f or 1/0, any case; else undefined. */
export function parseBool(text: string): boolean | undefined {
  switch (text.trim().toLowerCase()) {
    case 'true':
    case 't':
    case '1':
      return true;
    case 'false':
    case 'f':
    case '0':
      return false;
    default:
      return undefined;
  }
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const BIG_INT_TEXT = /^\s*[+-]?\d+\s*$/;

/** A 64-bit integer from text, or undefined; beyond 2^53 it is parsed exactly as a bigint. */
export function parseInt64(text: string): bigint | undefined {
  const n = Number(text);
  if (Number.isSafeInteger(n) && (n !== 0 || /\d/.test(text))) return BigInt(n);
  if (!BIG_INT_TEXT.test(text)) return undefined;
  const big = BigInt(text.trim());
  return big < INT64_MIN || big > INT64_MAX ? undefined : big;
}

/** Cells of one column for one batch: text (CSV; `undefined` = null) or parsed JSON values. */
export interface ColumnCells {
  kind: 'text' | 'json';
  values: readonly unknown[];
}

/** Result of building a column: the Arrow data, or the first row whose value does not parse. */
export type BuiltColumn = { ok: true; data: Data } | { ok: false; row: number; value: string };

/**
 * Builds one Arrow column of `length` rows from cells. An empty text cell is null for every type except
 * string (CSV keeps `""` quoted as an empty string; the parser passes an unquoted empty field as undefined).
 */
export function buildColumn(
  type: ColumnTypeName,
  cells: ColumnCells,
  length: number,
  /** When given, a value that does not convert is reported here and stored as null instead of failing. */
  onBad?: (row: number, value: string) => void,
): BuiltColumn {
  const validity = new Uint8Array((length + 7) >> 3);
  let nullCount = 0;
  const text = cells.kind === 'text';
  const values = cells.values;

  // One loop per type keeps each loop monomorphic; `convert` returns undefined for an unparsable value.
  const fill = <T>(convert: (v: unknown) => T | undefined, store: (row: number, v: T) => void): number => {
    for (let row = 0; row < length; row++) {
      const v = values[row];
      if (v === undefined || v === null || (text && v === '' && type !== 'string')) {
        nullCount++;
        continue;
      }
      const converted = convert(v);
      if (converted === undefined) {
        if (!onBad) return row;
        onBad(row, typeof v === 'string' ? v : JSON.stringify(v));
        nullCount++;
        continue;
      }
      store(row, converted);
      validity[row >> 3]! |= 1 << (row & 7);
    }
    return -1;
  };
  const failed = (row: number): BuiltColumn => {
    const v = values[row];
    return { ok: false, row, value: typeof v === 'string' ? v : JSON.stringify(v) };
  };
  const finish = (data: Data): BuiltColumn => ({ ok: true, data });
  const nullBitmap = (): Uint8Array | undefined => (nullCount > 0 ? validity : undefined);

  switch (type) {
    case 'float64':
    case 'float32': {
      const out = type === 'float64' ? new Float64Array(length) : new Float32Array(length);
      const bad = fill<number>(
        (v) => (typeof v === 'number' ? v : typeof v === 'string' ? parseNumber(v) : undefined),
        (row, v) => {
          out[row] = v;
        },
      );
      if (bad >= 0) return failed(bad);
      const arrowT = type === 'float64' ? new Float64() : new Float32();
      return finish(makeData({ type: arrowT, length, nullCount, nullBitmap: nullBitmap(), data: out }));
    }
    case 'int64': {
      const out = new BigInt64Array(length);
      const bad = fill<bigint>(
        (v) =>
          typeof v === 'number'
            ? Number.isInteger(v) && Math.abs(v) < 2 ** 63
              ? BigInt(v)
              : undefined
            : typeof v === 'string'
              ? parseInt64(v)
              : undefined,
        (row, v) => {
          out[row] = v;
        },
      );
      if (bad >= 0) return failed(bad);
      return finish(makeData({ type: new Int64(), length, nullCount, nullBitmap: nullBitmap(), data: out }));
    }
    case 'int32': {
      const out = new Int32Array(length);
      const toInt32 = (n: number | undefined): number | undefined =>
        n !== undefined && Number.isInteger(n) && n >= -2147483648 && n <= 2147483647 ? n : undefined;
      const bad = fill<number>(
        (v) => toInt32(typeof v === 'number' ? v : typeof v === 'string' ? parseNumber(v) : undefined),
        (row, v) => {
          out[row] = v;
        },
      );
      if (bad >= 0) return failed(bad);
      return finish(makeData({ type: new Int32(), length, nullCount, nullBitmap: nullBitmap(), data: out }));
    }
    case 'bool': {
      const out = new Uint8Array((length + 7) >> 3);
      const bad = fill<boolean>(
        (v) => (typeof v === 'boolean' ? v : typeof v === 'string' ? parseBool(v) : undefined),
        (row, v) => {
          if (v) out[row >> 3]! |= 1 << (row & 7);
        },
      );
      if (bad >= 0) return failed(bad);
      return finish(makeData({ type: new Bool(), length, nullCount, nullBitmap: nullBitmap(), data: out }));
    }
    case 'timestamp': {
      const out = new BigInt64Array(length);
      const bad = fill<number>(
        (v) => (typeof v === 'string' ? parseTimestamp(v) : undefined),
        (row, v) => {
          out[row] = BigInt(v);
        },
      );
      if (bad >= 0) return failed(bad);
      const arrowT = new TimestampMillisecond('UTC');
      return finish(makeData({ type: arrowT, length, nullCount, nullBitmap: nullBitmap(), data: out }));
    }
    case 'string': {
      const strings: string[] = new Array<string>(length);
      let capacity = 0;
      fill<string>(
        (v) => (typeof v === 'string' ? v : JSON.stringify(v)),
        (row, v) => {
          strings[row] = v;
          capacity += v.length * 3;
        },
      );
      // Worst case 3 UTF-8 bytes per UTF-16 unit; written once, then copied to the exact size.
      const buffer = Buffer.allocUnsafe(capacity);
      const offsets = new Int32Array(length + 1);
      let pos = 0;
      for (let row = 0; row < length; row++) {
        const s = strings[row];
        if (s !== undefined && s.length > 0) pos += buffer.write(s, pos, 'utf8');
        offsets[row + 1] = pos;
      }
      const data = new Uint8Array(pos);
      data.set(buffer.subarray(0, pos));
      return finish(
        makeData({
          type: new Utf8(),
          length,
          nullCount,
          nullBitmap: nullBitmap(),
          valueOffsets: offsets,
          data,
        }),
      );
    }
  }
}

/**
 * Indexes (into `columns`) of the columns a projection reads, in its order; all columns when absent. An
 * unknown name is SCHEMA_MISMATCH naming it.
 */
export function projectColumns(
  columns: readonly TextColumn[],
  wanted: string[] | undefined,
  uri: string,
): number[] {
  if (wanted === undefined) return columns.map((_, i) => i);
  return wanted.map((name) => {
    const index = columns.findIndex((c) => c.name === name);
    if (index < 0) {
      throw new BadDataError(
        'SCHEMA_MISMATCH',
        `column "${name}" is not in the object (columns: ${columns.map((c) => c.name).join(', ')})`,
        { uri, column: name },
      );
    }
    return index;
  });
}

/** A record batch of `length` rows from built columns, in schema order. */
export function makeRecordBatch(schema: Schema, children: Data[], length: number): RecordBatch {
  return new RecordBatch(
    schema,
    makeData({ type: new Struct(schema.fields), length, nullCount: 0, children }),
  );
}

/**
 * Where each row of the batch being gathered came from, so a bad value found when building a column can be
 * located: its record index in the part, its character index, and which decoded text it was in.
 */
export interface RowOrigins {
  maxRows: number;
  rows: number;
  recordOf: Float64Array;
  charStartOf: Int32Array;
  textOf: Int32Array;
  /** Id of the text now being parsed; the reader bumps it per decoded window. */
  textId: number;
  /** Records seen in the part so far (blank lines included): the index of the next one. */
  records: number;
}

export function makeRowOrigins(maxRows: number): RowOrigins {
  return {
    maxRows,
    rows: 0,
    recordOf: new Float64Array(maxRows),
    charStartOf: new Int32Array(maxRows),
    textOf: new Int32Array(maxRows),
    textId: 0,
    records: 0,
  };
}

/** Notes where the row just filled came from and counts it. */
export function commitRow(origins: RowOrigins, record: number, charStart: number): void {
  const row = origins.rows++;
  origins.recordOf[row] = record;
  origins.charStartOf[row] = charStart;
  origins.textOf[row] = origins.textId;
}

/**
 * Builds the gathered rows into a record batch (column `slot` by `buildSlot`) and starts a new batch, or
 * returns the first bad value by column order so the reader can report it with its location.
 */
export function takeRecordBatch(
  schema: Schema,
  columns: readonly TextColumn[],
  origins: RowOrigins,
  buildSlot: (
    slot: number,
    column: TextColumn,
    length: number,
    onBad?: (row: number, value: string) => void,
  ) => BuiltColumn,
  /** When given, values that do not convert are reported (row, column, value) and the batch is built. */
  onBad?: (row: number, column: TextColumn, value: string) => void,
): RecordBatch | { row: number; column: TextColumn; value: string } {
  const length = origins.rows;
  const children: Data[] = [];
  for (let slot = 0; slot < columns.length; slot++) {
    const column = columns[slot]!;
    const built = buildSlot(slot, column, length, onBad && ((row, value) => onBad(row, column, value)));
    if (!built.ok) return { row: built.row, column, value: built.value };
    children.push(built.data);
  }
  origins.rows = 0;
  return makeRecordBatch(schema, children, length);
}

const POW10 = Array.from({ length: 23 }, (_, i) => 10 ** i);

/**
 * Stores the decimal number in `text[a, b)` at `out[index]` on the fast path; false when the text needs the
 * general parser. With at most 15 digits and a power of ten up to 22, mantissa and power are exact doubles
 * and one IEEE division or multiplication rounds correctly (Clinger's fast path), so the value equals
 * `Number(text)`. It reads the characters in place, with no substring per cell (most of the cost of a numeric
 * CSV), and stores rather than returns the double so that none is boxed on the heap.
 */
export function storeDecimalAt(
  text: string,
  a: number,
  b: number,
  out: Float64Array,
  index: number,
): boolean {
  let i = a;
  let c = text.charCodeAt(i);
  const negative = c === 45;
  if (negative || c === 43) c = text.charCodeAt(++i);
  let mantissa = 0;
  let digits = 0;
  let scale = 0;
  while (i < b && c >= 48 && c <= 57) {
    mantissa = mantissa * 10 + (c - 48);
    digits++;
    c = text.charCodeAt(++i);
  }
  if (i < b && c === 46) {
    c = text.charCodeAt(++i);
    while (i < b && c >= 48 && c <= 57) {
      mantissa = mantissa * 10 + (c - 48);
      digits++;
      scale++;
      c = text.charCodeAt(++i);
    }
  }
  if (digits === 0 || digits > 15) return false;
  let exponent = 0;
  if (i < b && (c | 32) === 101) {
    c = text.charCodeAt(++i);
    const negativeExponent = c === 45;
    if (negativeExponent || c === 43) c = text.charCodeAt(++i);
    const expStart = i;
    while (i < b && c >= 48 && c <= 57 && i - expStart < 4) {
      exponent = exponent * 10 + (c - 48);
      c = text.charCodeAt(++i);
    }
    if (i === expStart) return false;
    if (negativeExponent) exponent = -exponent;
  }
  if (i !== b) return false;
  const power = exponent - scale;
  let value: number;
  if (power >= 0) {
    if (power > 22) return false;
    value = mantissa * POW10[power]!;
  } else {
    if (power < -22) return false;
    value = mantissa / POW10[-power]!;
  }
  out[index] = negative ? -value : value;
  return true;
}

/** An integer of at most 15 digits in `text[a, b)`, or NaN when it needs the general parser. */
export function parseSmallIntAt(text: string, a: number, b: number): number {
  let i = a;
  let c = text.charCodeAt(i);
  const negative = c === 45;
  if (negative || c === 43) c = text.charCodeAt(++i);
  if (i === b || b - i > 15) return NaN;
  let value = 0;
  for (; i < b; c = text.charCodeAt(++i)) {
    if (c < 48 || c > 57) return NaN;
    value = value * 10 + (c - 48);
  }
  return negative ? -value : value;
}

/** Arrow data for a numeric column already parsed into a typed array (`validity` bit set = not null). */
export function numericData(
  type: 'float64' | 'float32' | 'int64',
  values: Float64Array | BigInt64Array,
  validity: Uint8Array,
  nullCount: number,
  length: number,
): Data {
  const nullBitmap = nullCount > 0 ? validity : undefined;
  if (type === 'int64') {
    return makeData({ type: new Int64(), length, nullCount, nullBitmap, data: values as BigInt64Array });
  }
  if (type === 'float32') {
    const data = Float32Array.from((values as Float64Array).subarray(0, length));
    return makeData({ type: new Float32(), length, nullCount, nullBitmap, data });
  }
  return makeData({ type: new Float64(), length, nullCount, nullBitmap, data: values as Float64Array });
}
