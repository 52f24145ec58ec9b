import {
  Bool,
  DataType,
  Field,
  FixedSizeList,
  Float32,
  Float64,
  Int32,
  Int64,
  List,
  Precision,
  RecordBatch,
  Schema,
  Struct,
  TimestampMicrosecond,
  TimestampMillisecond,
  Utf8,
  makeData,
  vectorFromArray,
  type Data,
  type Timestamp,
} from 'apache-arrow';
// Writer and Arrow reader tests use the shared in-memory storage.
export { makeMemoryStorage, type CountingMemoryStorage as MemoryStorage } from './memory-storage.js';

/** One column of the all-types fixture: its field and its values as plain JavaScript (nulls included). */
export interface FixtureColumn {
  field: Field;
  values: unknown[];
}

const BIG = 2n ** 60n + 7n;

/**
 * Every type the writers must preserve, with nulls in each column and the awkward values for text formats
 * (int64 beyond 2^53, negative and pre-1970 timestamps, quotes, commas, line breaks, the empty string,
 * NaN/±Infinity, null list items). Timestamps are given as raw bigint counts of their unit.
 */
export function allTypesColumns(): FixtureColumn[] {
  const float = (): Field => new Field('item', new Float32(), true);
  return [
    { field: new Field('id', new Int64(), true), values: [0n, 1n, -5n, BIG, -BIG, null, 9007199254740991n] },
    { field: new Field('i32', new Int32(), true), values: [1, -2, null, 2147483647, -2147483648, 0, 7] },
    {
      field: new Field('score', new Float32(), true),
      values: [0.1, -1.5, null, 3.4028234663852886e38, 1e-7, Number.NaN, 0],
    },
    {
      field: new Field('f64', new Float64(), true),
      values: [0.1, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, null, -0.5, 1e300, 123456.789],
    },
    { field: new Field('flag', new Bool(), true), values: [true, false, null, true, false, true, null] },
    {
      field: new Field('name', new Utf8(), true),
      values: ['plain', 'comma, quote " and\nnewline', '', null, 'üñíçødé 🎯', ' spaced ', 'cr\r\nlf'],
    },
    {
      field: new Field('ts_ms', new TimestampMillisecond(), true),
      values: [0n, 1_700_000_000_123n, -1n, null, 253_402_300_799_999n, -86_400_000n, 1n],
    },
    {
      field: new Field('ts_us_utc', new TimestampMicrosecond('UTC'), true),
      values: [1_700_000_000_123_456n, null, -1_500_000n, 0n, 1n, 999_999n, 1_000_000n],
    },
    {
      field: new Field('embedding', new List(float()), true),
      values: [[0.5, 1.25], [], null, [null, 2], [0.1], [Number.NaN], [-3]],
    },
    {
      field: new Field('vec3', new FixedSizeList(3, float()), true),
      values: [[1, 2, 3], [0.1, 0.2, 0.3], null, [0, -0.5, 4], [null, 1, 2], [7, 8, 9], [1e-7, 1e7, 3]],
    },
    { field: new Field('nothing', new Int64(), true), values: [null, null, null, null, null, null, null] },
  ];
}

/** vectorFromArray reads timestamps as epoch milliseconds whatever the unit, so they are built from raw counts. */
function timestampData(type: Timestamp, values: unknown[]): Data {
  const raw = new BigInt64Array(values.length);
  const validity = new Uint8Array(Math.ceil(values.length / 8));
  values.forEach((value, row) => {
    if (typeof value === 'bigint') {
      raw[row] = value;
      validity[row >> 3]! |= 1 << (row & 7);
    }
  });
  return makeData({ type, length: values.length, data: raw, nullBitmap: validity });
}

/** The fixture as record batches, rows split across `batchSizes` batches (default: 4 then 3). */
export function allTypesBatches(batchSizes: number[] = [4, 3]): RecordBatch[] {
  const columns = allTypesColumns();
  const schema = new Schema(columns.map((column) => column.field));
  const batches: RecordBatch[] = [];
  let start = 0;
  for (const size of batchSizes) {
    const children = columns.map(({ field, values }) => {
      const slice = values.slice(start, start + size);
      const type = field.type as DataType;
      return DataType.isTimestamp(type) ? timestampData(type, slice) : vectorFromArray(slice, type).data[0]!;
    });
    batches.push(
      new RecordBatch(schema, makeData({ type: new Struct(schema.fields), length: size, children })),
    );
    start += size;
  }
  return batches;
}

/**
 * A comparable form of one cell: float32 values (and list items) rounded to float32, timestamps as their raw
 * bigint count, lists as arrays. Both the fixture and every read-back are brought to this form.
 */
function normalizeCell(type: DataType, value: unknown): unknown {
  if (value === null || value === undefined) return null;
  if (DataType.isFloat(type) && type.precision === Precision.SINGLE) return Math.fround(Number(value));
  if (DataType.isList(type) || DataType.isFixedSizeList(type)) {
    const itemType = type.children[0]!.type as DataType;
    return [...(value as Iterable<unknown>)].map((item) => normalizeCell(itemType, item));
  }
  return value;
}

/** The fixture's rows in comparable form. */
export function expectedRows(): Array<Record<string, unknown>> {
  const columns = allTypesColumns();
  return columns[0]!.values.map((_, row) =>
    Object.fromEntries(
      columns.map(({ field, values }) => [field.name, normalizeCell(field.type as DataType, values[row])]),
    ),
  );
}

/** Rows of Arrow batches in comparable form (timestamps from the raw buffer, at full precision). */
export function comparableRows(batches: readonly RecordBatch[]): Array<Record<string, unknown>> {
  const rows: Array<Record<string, unknown>> = [];
  for (const batch of batches) {
    for (let row = 0; row < batch.numRows; row++) {
      const out: Record<string, unknown> = {};
      batch.schema.fields.forEach((field, index) => {
        const vector = batch.getChildAt(index)!;
        const type = field.type as DataType;
        const raw: unknown = DataType.isTimestamp(type)
          ? (vector.data[0]!.values as BigInt64Array)[row]
          : vector.get(row);
        out[field.name] = vector.isValid(row) ? normalizeCell(type, raw) : null;
      });
      rows.push(out);
    }
  }
  return rows;
}

/** The fixture's rows as DuckDB returns them; `normalizeDuckRows` brings them to comparable form. */
export const FIXTURE_DUCKDB_SELECT = [
  'id',
  'i32',
  'score',
  'f64',
  'flag',
  'name',
  'epoch_ms(ts_ms) AS ts_ms',
  'epoch_us(ts_us_utc) AS ts_us_utc',
  'embedding',
  'vec3',
  'nothing',
].join(', ');

/**
 * DuckDB rows (from `getRowObjectsJS()`) in comparable form. Text formats may hand back list columns as JSON
 * text, where NaN is the string "NaN"; those are parsed here.
 */
export function normalizeDuckRows(rows: Array<Record<string, unknown>>): Array<Record<string, unknown>> {
  const types = new Map(allTypesColumns().map(({ field }) => [field.name, field.type as DataType]));
  return rows.map((row) =>
    Object.fromEntries(
      Object.entries(row).map(([name, value]) => {
        const type = types.get(name)!;
        const isList = DataType.isList(type) || DataType.isFixedSizeList(type);
        const parsed: unknown = isList && typeof value === 'string' ? JSON.parse(value) : value;
        const items = Array.isArray(parsed)
          ? parsed.map((item: unknown) => (typeof item === 'string' ? Number(item) : item))
          : parsed;
        return [name, normalizeCell(type, items)];
      }),
    ),
  );
}
