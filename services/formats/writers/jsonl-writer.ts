import { DataType, Precision, TimeUnit, type Data, type Table, type Vector } from 'apache-arrow';

/**
 * How one text format spells the values that JSON Lines and CSV spell differently. Everything else about
 * turning an Arrow cell into text (number formatting, ISO 8601 timestamps, nested values as JSON) is shared,
 * so both writers go through `makeCellEncoder` with their own dialect.
 */
export interface TextDialect {
  /** A null cell. */
  readonly null: string;
  /** A text value: strings, and the timestamps, dates and binaries written as text. */
  string(value: string): string;
  /** An int64/uint64 value. */
  bigint(value: bigint): string;
  /** NaN, Infinity or -Infinity, which JSON has no number for. */
  nonFinite(value: number): string;
  /** A list, fixed-size list or struct, given as its JSON text. */
  nested(json: string): string;
}

/** The text of one cell of a column, by row index within its batch. */
export type CellEncoder = (row: number) => string;

/**
 * JSON's rule for int64: a value within ±(2^53 − 1) is a JSON number; a larger one is a JSON string of its
 * exact decimal digits. Most JSON readers (JavaScript, jq, DuckDB's auto-detection) parse numbers as
 * doubles and would silently round a large id to a different id; a string keeps it exact. Keeping safe
 * values as numbers means the common case (row ids, counts) reads back as numbers everywhere. NaN and
 * ±Infinity follow the same rule: JSON has no number for them, so they are the strings "NaN", "Infinity"
 * and "-Infinity".
 */
export const JSON_DIALECT: TextDialect = {
  null: 'null',
  string: (value) => JSON.stringify(value),
  bigint: (value) =>
    value <= BigInt(Number.MAX_SAFE_INTEGER) && value >= BigInt(Number.MIN_SAFE_INTEGER)
      ? value.toString()
      : `"${value.toString()}"`,
  nonFinite: (value) => `"${String(value)}"`,
  nested: (json) => json,
};

const UNITS_PER_SECOND: Record<TimeUnit, bigint> = {
  [TimeUnit.SECOND]: 1n,
  [TimeUnit.MILLISECOND]: 1_000n,
  [TimeUnit.MICROSECOND]: 1_000_000n,
  [TimeUnit.NANOSECOND]: 1_000_000_000n,
};

const FRACTION_DIGITS: Record<TimeUnit, number> = {
  [TimeUnit.SECOND]: 0,
  [TimeUnit.MILLISECOND]: 3,
  [TimeUnit.MICROSECOND]: 6,
  [TimeUnit.NANOSECOND]: 9,
};

/**
 * ISO 8601 text of a raw Arrow timestamp, at the column's full precision (apache-arrow's own `get()` rounds
 * to milliseconds). A timestamp with a time zone is a UTC instant, so it ends in `Z`; one without is a wall
 * clock time in no particular zone, and claiming UTC for it would be wrong, so it has no suffix.
 */
export function formatTimestamp(value: bigint, unit: TimeUnit, hasTimeZone: boolean): string {
  const perSecond = UNITS_PER_SECOND[unit];
  let seconds = value / perSecond;
  let fraction = value % perSecond;
  if (fraction < 0n) {
    fraction += perSecond;
    seconds -= 1n;
  }
  const wholeSeconds = new Date(Number(seconds) * 1000).toISOString().slice(0, -5);
  const digits = FRACTION_DIGITS[unit];
  const fractionText = digits === 0 ? '' : `.${fraction.toString().padStart(digits, '0')}`;
  return `${wholeSeconds}${fractionText}${hasTimeZone ? 'Z' : ''}`;
}

/**
 * JavaScript's shortest round-trip text (every finite double reads back bit-identical), except for -0:
 * `String` drops its sign, and a bare `-0` is an integer to DuckDB's JSON reader, which reads it as +0
 * even into a FLOAT or DOUBLE column. `-0.0` is a float's negative zero to every reader we know (DuckDB's
 * JSON and CSV readers, JavaScript, Python), so both text formats spell it that way.
 */
export function formatFloat64(value: number): string {
  return Object.is(value, -0) ? '-0.0' : String(value);
}

function roundTripsFloat32(value: number, digits: number): boolean {
  return Math.fround(Number(value.toPrecision(digits))) === value;
}

/**
 * The shortest decimal text that reads back as the same float32. Scores are float32; printing the widened
 * double (`0.10000000149011612`) would be exact but twice as long and look like noise to a person.
 */
export function formatFloat32(value: number): string {
  if (value === 0) return formatFloat64(value);
  // Round-tripping is monotone in the digit count (the p-digit text is also a (p+1)-digit candidate, so the
  // nearest (p+1)-digit text is at least as close), so the shortest count can be searched for. Scores mostly
  // need 7–9 digits, so the search starts there; a plain 1..9 scan took 4× as long.
  let digits: number;
  if (roundTripsFloat32(value, 7)) {
    digits = 1;
    let high = 7;
    while (digits < high) {
      const middle = (digits + high) >> 1;
      if (roundTripsFloat32(value, middle)) high = middle;
      else digits = middle + 1;
    }
  } else {
    digits = roundTripsFloat32(value, 8) ? 8 : 9;
  }
  const text = value.toPrecision(digits);
  // The shortest text has no trailing zeros, so only exponent forms ("1e+2") need JavaScript's spelling.
  return text.includes('e') ? String(Number(text)) : text;
}

function onlyData(vector: Vector): Data {
  const chunks = vector.data as readonly Data[];
  // Callers encode one record batch's columns, which are always a single Data each.
  if (chunks.length !== 1) throw new TypeError('cell encoders take single-chunk vectors');
  return chunks[0]!;
}

function encodeJsonArray(vector: Vector): string {
  const encode = makeCellEncoder(vector, JSON_DIALECT);
  const items: string[] = [];
  for (let row = 0; row < vector.length; row++) items.push(encode(row));
  return `[${items.join(',')}]`;
}

function makeValidCellEncoder(vector: Vector, dialect: TextDialect): CellEncoder {
  const type = vector.type as DataType;
  if (DataType.isBool(type)) return (row) => ((vector.get(row) as boolean) ? 'true' : 'false');
  if (DataType.isInt(type)) {
    if (type.bitWidth === 64) return (row) => dialect.bigint(vector.get(row) as bigint);
    return (row) => String(vector.get(row) as number);
  }
  if (DataType.isFloat(type)) {
    // Finite floats read back bit-identical (float32 as the shortest text that rounds back to it). A NaN's
    // sign and payload bits are not kept: apache-arrow hands every NaN over as JavaScript's one NaN, and
    // text has one spelling for it. Half floats are exact doubles, so their double text round-trips.
    const format = type.precision === Precision.SINGLE ? formatFloat32 : formatFloat64;
    return (row) => {
      const value = vector.get(row) as number;
      return Number.isFinite(value) ? format(value) : dialect.nonFinite(value);
    };
  }
  if (DataType.isUtf8(type) || DataType.isLargeUtf8(type) || DataType.isUtf8View(type)) {
    return (row) => dialect.string(vector.get(row) as string);
  }
  if (DataType.isTimestamp(type)) {
    const values = onlyData(vector).values as BigInt64Array;
    // apache-arrow leaves the zone null or undefined on naive timestamps, depending on where they came from.
    const hasTimeZone = Boolean(type.timezone);
    return (row) => dialect.string(formatTimestamp(values[row]!, type.unit, hasTimeZone));
  }
  if (DataType.isDate(type)) {
    // apache-arrow gives both date units as epoch milliseconds.
    return (row) => dialect.string(new Date(vector.get(row) as number).toISOString().slice(0, 10));
  }
  if (DataType.isBinary(type) || DataType.isLargeBinary(type) || DataType.isFixedSizeBinary(type)) {
    return (row) => dialect.string(Buffer.from(vector.get(row) as Uint8Array).toString('base64'));
  }
  if (DataType.isList(type) || DataType.isLargeList(type) || DataType.isFixedSizeList(type)) {
    return (row) => dialect.nested(encodeJsonArray(vector.get(row) as Vector));
  }
  if (DataType.isStruct(type)) {
    const fields = type.children.map((field, index) => ({
      key: `${JSON.stringify(field.name)}:`,
      encode: makeCellEncoder(vector.getChildAt(index)!, JSON_DIALECT),
    }));
    return (row) => dialect.nested(`{${fields.map((field) => field.key + field.encode(row)).join(',')}}`);
  }
  if (DataType.isDictionary(type)) {
    const data = onlyData(vector);
    const encodeValue = makeCellEncoder(data.dictionary!, dialect);
    const keys = data.values as ArrayLike<number | bigint>;
    return (row) => encodeValue(Number(keys[row]));
  }
  // Rare passthrough types (decimal, time, duration, interval, map, union): apache-arrow's own text form.
  return (row) => dialect.string(String(vector.get(row)));
}

/** Builds the encoder for one column of one batch; nulls become `dialect.null`. */
export function makeCellEncoder(vector: Vector, dialect: TextDialect): CellEncoder {
  const encodeValid = makeValidCellEncoder(vector, dialect);
  if (vector.nullCount === 0) return encodeValid;
  return (row) => (vector.isValid(row) ? encodeValid(row) : dialect.null);
}

/**
 * Encodes a table as JSON Lines: one object per row with every column as a key, in schema order, nulls as
 * `null`, each line ending in `\n`. Values follow `JSON_DIALECT` (int64 beyond 2^53 as strings). Each batch
 * is encoded to bytes on its own so no single JavaScript string grows with the whole chunk.
 */
export function encodeJsonl(table: Table): Uint8Array {
  const encoder = new TextEncoder();
  const keys = table.schema.fields.map((field) => `${JSON.stringify(field.name)}:`);
  const parts: Uint8Array[] = [];
  for (const batch of table.batches) {
    const cells = keys.map((_, index) => makeCellEncoder(batch.getChildAt(index)!, JSON_DIALECT));
    const lines: string[] = [];
    for (let row = 0; row < batch.numRows; row++) {
      let line = '{';
      for (let column = 0; column < keys.length; column++) {
        line += `${column === 0 ? '' : ','}${keys[column]!}${cells[column]!(row)}`;
      }
      lines.push(`${line}}\n`);
    }
    parts.push(encoder.encode(lines.join('')));
  }
  return Buffer.concat(parts);
}
