import {
  RecordBatchReader,
  type RecordBatch,
  type RecordBatchFileReader,
  type RecordBatchStreamReader,
  type Schema,
} from 'apache-arrow';
import type { ChunkPart } from '../../schemas/chunk-descriptor.js';
import type { Storage } from '../../jobs/ports/storage.js';
import { BadDataError } from './errors/bad-data-error.js';
import type { FormatReader, ReadPartOptions } from './format-reader.js';

const FILE_MAGIC = [0x41, 0x52, 0x52, 0x4f, 0x57, 0x31]; // "ARROW1"
const END_OF_STREAM = [0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00];

export type ArrowIpcFormat = 'file' | 'stream';

function hasBytesAt(bytes: Uint8Array, at: number, expected: readonly number[]): boolean {
  return (
    at >= 0 && at + expected.length <= bytes.length && expected.every((byte, i) => bytes[at + i] === byte)
  );
}

/** The IPC file format starts (and ends) with `ARROW1`; anything else is read as the stream format. */
export function detectArrowIpcFormat(bytes: Uint8Array): ArrowIpcFormat {
  return hasBytesAt(bytes, 0, FILE_MAGIC) ? 'file' : 'stream';
}

/**
 * The column indices to keep, in the order asked for. (apache-arrow's `RecordBatch.select` keeps schema
 * order and misplaces children for non-prefix subsets, so projection goes through `selectAt`.)
 */
function projection(schema: Schema, columns: string[] | undefined, uri: string): number[] | undefined {
  if (columns === undefined) return undefined;
  const names = schema.fields.map((field) => field.name);
  return columns.map((column) => {
    const index = names.indexOf(column);
    if (index < 0) {
      throw new BadDataError('SCHEMA_MISMATCH', `no column "${column}"; columns are ${names.join(', ')}`, {
        uri,
        column,
      });
    }
    return index;
  });
}

/**
 * Decodes a whole Arrow IPC object (file or stream format) into its record batches, lazily. apache-arrow
 * reports damaged input as whatever its parser tripped on (often a TypeError on a null), so every failure
 * becomes ARROW_INVALID naming the object.
 */
export function* decodeArrowIpc(
  bytes: Uint8Array,
  uri: string,
  options: ReadPartOptions = {},
): Generator<RecordBatch> {
  const invalid = (detail: string, cause?: unknown): BadDataError =>
    new BadDataError('ARROW_INVALID', detail, { uri }, cause === undefined ? undefined : { cause });
  const format = detectArrowIpcFormat(bytes);
  // A stream cut off between two messages parses cleanly and silently drops the rest. Every current writer
  // (Arrow ≥ 0.15: pyarrow, arrow-rs, apache-arrow, DuckDB, Polars) ends a stream with this marker, so
  // requiring it turns a truncated object into an error instead of lost rows. (The file format has the
  // same protection built in: its footer is at the end.)
  if (format === 'stream' && !hasBytesAt(bytes, bytes.length - END_OF_STREAM.length, END_OF_STREAM)) {
    throw invalid(
      'not an Arrow IPC file, or an Arrow IPC stream without its end-of-stream marker (truncated?)',
    );
  }
  let reader: RecordBatchFileReader | RecordBatchStreamReader;
  let schema: Schema | undefined;
  try {
    reader = RecordBatchReader.from(bytes).open();
    schema = reader.schema as Schema | undefined;
  } catch (error) {
    throw invalid(`cannot read the Arrow IPC ${format} header: ${String(error)}`, error);
  }
  if (schema === undefined || schema === null) throw invalid(`the Arrow IPC ${format} has no schema`);
  const indices = projection(schema, options.columns, uri);
  for (let index = 0; ; index++) {
    options.signal?.throwIfAborted();
    let next: IteratorResult<RecordBatch>;
    try {
      next = reader.next();
    } catch (error) {
      throw invalid(`cannot read record batch ${index} of the Arrow IPC ${format}: ${String(error)}`, error);
    }
    if (next.done === true) return;
    yield indices === undefined ? next.value : next.value.selectAt(indices);
  }
}

/**
 * Reads Arrow IPC objects. Arrow parts are always `whole` (the planner cannot split an IPC object by bytes),
 * and the reader decodes straight out of the fetched buffer, so batches share its memory.
 */
export function makeArrowReader(): FormatReader {
  return {
    async *readPart(storage: Storage, part: ChunkPart, options: ReadPartOptions = {}) {
      if (part.range.kind !== 'whole') {
        throw new TypeError(
          `Arrow IPC parts are read whole, got a "${part.range.kind}" range for ${part.uri}`,
        );
      }
      options.signal?.throwIfAborted();
      const bytes = await storage.read(part.uri, undefined, { signal: options.signal });
      yield* decodeArrowIpc(bytes, part.uri, options);
    },
  };
}
