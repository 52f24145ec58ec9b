/**
 * Column types of text formats (CSV, JSONL): inference from sample values, the Arrow types they map to, and
 * which columns a projection reads.
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
  Schema,
  TimestampMillisecond,
  Utf8,
  type DataType,
} from 'apache-arrow';
import { BadDataError } from '../errors/bad-data-error.js';
import type { ColumnTypeName } from '../format-reader.js';
import { parseTimestamp } from './value-parsers.js';

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
