/**
 * Building Arrow columns and record batches of text formats (CSV, JSONL) from gathered cells, straight into
 * typed arrays (no per-row Arrow builders), and tracking where each gathered row came from so a bad value
 * can be located.
 */
import {
  Bool,
  Float32,
  Float64,
  Int32,
  Int64,
  RecordBatch,
  Struct,
  TimestampMillisecond,
  Utf8,
  makeData,
  type Data,
  type Schema,
} from 'apache-arrow';
import type { ColumnTypeName } from '../format-reader.js';
import type { TextColumn } from './column-types.js';
import { parseBool, parseInt64, parseNumber, parseTimestamp } from './value-parsers.js';

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
