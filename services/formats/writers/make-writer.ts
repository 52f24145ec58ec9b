import { createHash } from 'node:crypto';
import { Table, util, type RecordBatch, type Schema } from 'apache-arrow';
import type { OutputFormat } from '../../../schemas/chunk-descriptor.js';
import type { CallOptions, Storage } from '../../../jobs/ports/storage.js';
import { encodeArrow } from './arrow-writer.js';
import { encodeCsv } from './csv-writer.js';
import { encodeJsonl } from './jsonl-writer.js';
import { encodeParquet } from './parquet-writer.js';

export interface EncodeOptions {
  /**
   * The output schema. Required when there are no batches (a chunk whose every row was rejected still
   * writes its part, with the right columns and no rows); otherwise taken from the first batch.
   */
  schema?: Schema;
}

export interface WriteBatchesOptions extends EncodeOptions, CallOptions {}

/** What one written part holds; the chunk commit and the manifest record it. */
export interface WrittenPart {
  uri: string;
  rows: number;
  bytes: number;
  /** SHA-256 of the bytes written (lowercase hex): the manifest lists it so readers can verify parts. */
  sha256: string;
}

/**
 * Writes one chunk's output rows as one object in one format.
 *
 * Memory: the whole object is encoded into one buffer before the single `storage.write`. That is bounded by
 * design: a writer only ever gets one chunk's output (key columns + scores of at most a few hundred thousand
 * rows, tens of MB), never a dataset, and one buffer keeps the write atomic and retryable as a single PUT.
 */
export interface BatchWriter {
  readonly format: OutputFormat;
  /** Object name suffix for parts in this format, with the dot (`.parquet`). */
  readonly extension: string;
  readonly contentType: string;
  /** Encodes batches that share one schema. */
  encode(batches: readonly RecordBatch[], options?: EncodeOptions): Promise<Uint8Array>;
  /** Encodes the batches and writes them to `uri` (overwriting: a rerun of a chunk writes the same rows). */
  write(
    storage: Storage,
    uri: string,
    batches: readonly RecordBatch[],
    options?: WriteBatchesOptions,
  ): Promise<WrittenPart>;
}

interface FormatEncoding {
  extension: string;
  contentType: string;
  encode(table: Table): Uint8Array | Promise<Uint8Array>;
}

const ENCODINGS: Record<OutputFormat, FormatEncoding> = {
  parquet: { extension: '.parquet', contentType: 'application/vnd.apache.parquet', encode: encodeParquet },
  arrow: { extension: '.arrow', contentType: 'application/vnd.apache.arrow.file', encode: encodeArrow },
  csv: { extension: '.csv', contentType: 'text/csv; charset=utf-8', encode: encodeCsv },
  jsonl: { extension: '.jsonl', contentType: 'application/jsonl; charset=utf-8', encode: encodeJsonl },
};

/** One table of batches that must share a schema; a mismatch is a bug in whoever built the batches. */
function toTable(batches: readonly RecordBatch[], schema: Schema | undefined): Table {
  const expected = schema ?? batches[0]?.schema;
  if (expected === undefined) throw new TypeError('encoding no batches needs options.schema');
  const mismatch = batches.findIndex((batch) => !util.compareSchemas(expected, batch.schema));
  if (mismatch >= 0) {
    const actual = batches[mismatch]!.schema.toString();
    throw new TypeError(`batch ${mismatch} has schema ${actual}, expected ${expected.toString()}`);
  }
  return batches.length === 0 ? new Table(expected) : new Table(batches);
}

export function makeWriter(format: OutputFormat): BatchWriter {
  const encoding = ENCODINGS[format];
  const encode = async (batches: readonly RecordBatch[], options: EncodeOptions = {}): Promise<Uint8Array> =>
    await encoding.encode(toTable(batches, options.schema));
  return {
    format,
    extension: encoding.extension,
    contentType: encoding.contentType,
    encode,
    async write(storage, uri, batches, options = {}) {
      const bytes = await encode(batches, options);
      options.signal?.throwIfAborted();
      await storage.write(uri, bytes, { contentType: encoding.contentType, signal: options.signal });
      return {
        uri,
        rows: batches.reduce((sum, batch) => sum + batch.numRows, 0),
        bytes: bytes.byteLength,
        sha256: createHash('sha256').update(bytes).digest('hex'),
      };
    },
  };
}

/** Encodes batches in `format` into one buffer; see `BatchWriter`. */
export async function encodeBatches(
  format: OutputFormat,
  batches: readonly RecordBatch[],
  options?: EncodeOptions,
): Promise<Uint8Array> {
  return await makeWriter(format).encode(batches, options);
}
