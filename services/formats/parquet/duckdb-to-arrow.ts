import duckdb from '@duckdb/node-bindings';
import {
  Binary,
  Bool,
  DateDay,
  type DataType,
  Field,
  FixedSizeList,
  Float32,
  Float64,
  Int8,
  Int16,
  Int32,
  Int64,
  List,
  RecordBatch,
  Schema,
  Struct,
  TimestampMicrosecond,
  TimestampMillisecond,
  TimestampNanosecond,
  TimestampSecond,
  Uint8,
  Uint16,
  Uint32,
  Uint64,
  Utf8,
  makeData,
  vectorFromArray,
} from 'apache-arrow';
import {
  type DuckDBDataChunk,
  type DuckDBType,
  DuckDBTypeId,
  JSDuckDBValueConverter,
} from '@duckdb/node-api';

type TypedArray =
  | Int8Array
  | Int16Array
  | Int32Array
  | BigInt64Array
  | Uint8Array
  | Uint16Array
  | Uint32Array
  | BigUint64Array
  | Float32Array
  | Float64Array;

interface FixedLayout {
  ctor: new (buffer: ArrayBufferLike, byteOffset?: number, length?: number) => TypedArray;
  bytes: number;
  type: () => DataType;
}

/**
 * DuckDB vectors whose memory layout equals Arrow's (little-endian fixed width), so a chunk is one memcpy.
 * Everything else goes through DuckDB's JS value conversion and Arrow's builders, which is slower but only
 * meets key and passthrough columns, not the wide feature columns that dominate decode time.
 */
const fixedLayouts = new Map<DuckDBTypeId, FixedLayout>([
  [DuckDBTypeId.TINYINT, { ctor: Int8Array, bytes: 1, type: () => new Int8() }],
  [DuckDBTypeId.SMALLINT, { ctor: Int16Array, bytes: 2, type: () => new Int16() }],
  [DuckDBTypeId.INTEGER, { ctor: Int32Array, bytes: 4, type: () => new Int32() }],
  [DuckDBTypeId.BIGINT, { ctor: BigInt64Array, bytes: 8, type: () => new Int64() }],
  [DuckDBTypeId.UTINYINT, { ctor: Uint8Array, bytes: 1, type: () => new Uint8() }],
  [DuckDBTypeId.USMALLINT, { ctor: Uint16Array, bytes: 2, type: () => new Uint16() }],
  [DuckDBTypeId.UINTEGER, { ctor: Uint32Array, bytes: 4, type: () => new Uint32() }],
  [DuckDBTypeId.UBIGINT, { ctor: BigUint64Array, bytes: 8, type: () => new Uint64() }],
  [DuckDBTypeId.FLOAT, { ctor: Float32Array, bytes: 4, type: () => new Float32() }],
  [DuckDBTypeId.DOUBLE, { ctor: Float64Array, bytes: 8, type: () => new Float64() }],
  [DuckDBTypeId.DATE, { ctor: Int32Array, bytes: 4, type: () => new DateDay() }],
  [DuckDBTypeId.TIMESTAMP, { ctor: BigInt64Array, bytes: 8, type: () => new TimestampMicrosecond() }],
  [DuckDBTypeId.TIMESTAMP_TZ, { ctor: BigInt64Array, bytes: 8, type: () => new TimestampMicrosecond('UTC') }],
  [DuckDBTypeId.TIMESTAMP_MS, { ctor: BigInt64Array, bytes: 8, type: () => new TimestampMillisecond() }],
  [DuckDBTypeId.TIMESTAMP_NS, { ctor: BigInt64Array, bytes: 8, type: () => new TimestampNanosecond() }],
  [DuckDBTypeId.TIMESTAMP_S, { ctor: BigInt64Array, bytes: 8, type: () => new TimestampSecond() }],
]);

/** Arrow type for a DuckDB type, or a reason it has none. */
export function arrowTypeOf(type: DuckDBType): DataType {
  const fixed = fixedLayouts.get(type.typeId);
  if (fixed) return fixed.type();
  switch (type.typeId) {
    case DuckDBTypeId.BOOLEAN:
      return new Bool();
    case DuckDBTypeId.VARCHAR:
    case DuckDBTypeId.ENUM:
    case DuckDBTypeId.UUID:
      return new Utf8();
    case DuckDBTypeId.BLOB:
      return new Binary();
    case DuckDBTypeId.DECIMAL:
    case DuckDBTypeId.HUGEINT:
      // Arrow JS has no usable decimal arithmetic; models take floats anyway.
      return new Float64();
    case DuckDBTypeId.LIST:
      return new List(new Field('item', arrowTypeOf(type.valueType), true));
    case DuckDBTypeId.ARRAY:
      return new FixedSizeList(type.length, new Field('item', arrowTypeOf(type.valueType), true));
    case DuckDBTypeId.STRUCT:
      return new Struct(
        type.entryNames.map((name, i) => new Field(name, arrowTypeOf(type.entryTypes[i]!), true)),
      );
    default:
      throw new UnsupportedColumnType(type.toString());
  }
}

export class UnsupportedColumnType extends Error {
  override readonly name = 'UnsupportedColumnType';
  constructor(readonly duckdbType: string) {
    super(`column type ${duckdbType} is not supported`);
  }
}

/**
 * Writes `count` validity bits from DuckDB's mask (bit set = valid, LSB first, as in Arrow), starting at
 * bit `from` of the mask, to bit `to` of the batch's bitmap.
 */
function copyBits(src: Uint8Array, from: number, dst: Uint8Array, to: number, count: number): void {
  let i = 0;
  if (from % 8 === 0 && to % 8 === 0) {
    const whole = count >> 3;
    dst.set(src.subarray(from >> 3, (from >> 3) + whole), to >> 3);
    i = whole * 8;
  }
  for (; i < count; i++) setBit(dst, to + i, (src[(from + i) >> 3]! >> ((from + i) & 7)) & 1);
}

function setBit(bits: Uint8Array, index: number, value: number): void {
  const byte = index >> 3;
  const mask = 1 << (index & 7);
  bits[byte] = value ? bits[byte]! | mask : bits[byte]! & ~mask;
}

function countSetBits(bits: Uint8Array, length: number): number {
  let n = 0;
  for (let i = 0; i < length >> 3; i++) {
    let b = bits[i]!;
    while (b) {
      b &= b - 1;
      n++;
    }
  }
  for (let i = length & ~7; i < length; i++) n += (bits[i >> 3]! >> (i & 7)) & 1;
  return n;
}

interface ColumnAccumulator {
  /** Appends rows `[from, from + count)` of the chunk's column at row `at` of the batch. */
  append(chunk: DuckDBDataChunk, column: number, from: number, at: number, count: number): void;
  finish(length: number): ReturnType<typeof makeData>;
}

function makeValidity(capacity: number) {
  let bits: Uint8Array | null = null;
  return {
    append(vector: duckdb.Vector, from: number, at: number, count: number): void {
      const mask = duckdb.vector_get_validity(vector, Math.ceil((from + count) / 64) * 8);
      if (!mask && !bits) return;
      if (!bits) {
        // First nulls in this batch: everything before them was valid.
        bits = new Uint8Array(Math.ceil(capacity / 8)).fill(0xff);
      }
      if (mask) copyBits(mask, from, bits, at, count);
      else for (let i = 0; i < count; i++) setBit(bits, at + i, 1);
    },
    finish(length: number): { nullBitmap: Uint8Array | undefined; nullCount: number } {
      if (!bits) return { nullBitmap: undefined, nullCount: 0 };
      const nullBitmap = bits.subarray(0, Math.ceil(length / 8));
      return { nullBitmap, nullCount: length - countSetBits(nullBitmap, length) };
    },
  };
}

function fixedAccumulator(layout: FixedLayout, capacity: number): ColumnAccumulator {
  // Every row of a batch is overwritten by a copy, so the buffer need not be zero-filled (measured: the
  // zero fill was a tenth of decode time on 64 float columns).
  const bytes = new Uint8Array(Buffer.allocUnsafeSlow(capacity * layout.bytes).buffer);
  const values = new layout.ctor(bytes.buffer);
  const validity = makeValidity(capacity);
  const type = layout.type();
  return {
    append(chunk, column, from, at, count) {
      const vector = duckdb.data_chunk_get_vector(chunk.chunk, column);
      const source = duckdb.vector_get_data(vector, (from + count) * layout.bytes);
      bytes.set(source.subarray(from * layout.bytes), at * layout.bytes);
      validity.append(vector, from, at, count);
    },
    finish(length) {
      return makeData({
        type,
        length,
        data: values.subarray(0, length),
        ...validity.finish(length),
      } as never);
    },
  };
}

function boolAccumulator(capacity: number): ColumnAccumulator {
  const packed = new Uint8Array(Math.ceil(capacity / 8));
  const validity = makeValidity(capacity);
  return {
    append(chunk, column, from, at, count) {
      const vector = duckdb.data_chunk_get_vector(chunk.chunk, column);
      const values = duckdb.vector_get_data(vector, from + count);
      for (let i = 0; i < count; i++) setBit(packed, at + i, values[from + i]!);
      validity.append(vector, from, at, count);
    },
    finish(length) {
      return makeData({
        type: new Bool(),
        length,
        data: packed.subarray(0, Math.ceil(length / 8)),
        ...validity.finish(length),
      });
    },
  };
}

/** Converts DuckDB's JS values into what Arrow's builders take for the same type. */
function toArrowValue(value: unknown, type: DataType): unknown {
  if (value === null || value === undefined) return null;
  if (type instanceof Float64 && typeof value === 'bigint') return Number(value);
  if ((type instanceof List || type instanceof FixedSizeList) && Array.isArray(value)) {
    const child = (type.children[0] as Field).type as DataType;
    return value.map((v: unknown) => toArrowValue(v, child));
  }
  return value;
}

function genericAccumulator(type: DataType): ColumnAccumulator {
  let values: unknown[] = [];
  return {
    append(chunk, column, from, _at, count) {
      const converted = chunk.convertColumnValues(column, JSDuckDBValueConverter);
      for (let i = from; i < from + count; i++) values.push(toArrowValue(converted[i], type));
    },
    finish(length) {
      const data = vectorFromArray(values.slice(0, length), type).data;
      values = [];
      // vectorFromArray may produce several chunks; a batch column needs one.
      if (data.length !== 1) throw new Error(`internal: builder produced ${data.length} chunks`);
      return data[0]!;
    },
  };
}

function makeAccumulator(type: DuckDBType, capacity: number): ColumnAccumulator {
  const fixed = fixedLayouts.get(type.typeId);
  if (fixed) return fixedAccumulator(fixed, capacity);
  if (type.typeId === DuckDBTypeId.BOOLEAN) return boolAccumulator(capacity);
  return genericAccumulator(arrowTypeOf(type));
}

/**
 * Turns a stream of DuckDB data chunks (2,048 rows each) into Arrow record batches of up to `batchRows`
 * rows. Fixed-width columns are copied straight from DuckDB's vector memory into one preallocated buffer
 * per batch.
 */
export class ArrowBatchAssembler {
  private readonly schema: Schema;
  private accumulators: ColumnAccumulator[];
  private filled = 0;

  constructor(
    names: readonly string[],
    private readonly types: readonly DuckDBType[],
    private readonly batchRows: number,
  ) {
    this.schema = new Schema(names.map((name, i) => new Field(name, arrowTypeOf(types[i]!), true)));
    this.accumulators = this.freshAccumulators();
  }

  private freshAccumulators(): ColumnAccumulator[] {
    return this.types.map((t) => makeAccumulator(t, this.batchRows));
  }

  /** Adds a chunk; returns the batches it filled up (a chunk may span a batch boundary). */
  push(chunk: DuckDBDataChunk): RecordBatch[] {
    const rows = chunk.rowCount;
    const full: RecordBatch[] = [];
    for (let from = 0; from < rows;) {
      const take = Math.min(rows - from, this.batchRows - this.filled);
      this.accumulators.forEach((acc, column) => acc.append(chunk, column, from, this.filled, take));
      this.filled += take;
      from += take;
      if (this.filled === this.batchRows) full.push(this.flush()!);
    }
    return full;
  }

  /** The rows gathered so far as one batch (undefined when none). */
  flush(): RecordBatch | undefined {
    if (this.filled === 0) return undefined;
    const length = this.filled;
    const children = this.accumulators.map((acc) => acc.finish(length));
    this.accumulators = this.freshAccumulators();
    this.filled = 0;
    const struct = makeData({ type: new Struct(this.schema.fields), length, nullCount: 0, children });
    return new RecordBatch(this.schema, struct);
  }
}
