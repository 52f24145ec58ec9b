import { createHash } from 'node:crypto';
import { Table, util, type RecordBatch, type Schema } from 'apache-arrow';
import type { OutputFormat } from '../../../schemas/chunk-descriptor.js';
import type {
  BatchWriter as PortBatchWriter,
  OutputWriters,
  WriteBatchesOptions,
  WriterOptions,
  WrittenPart,
} from '../../../jobs/ports/output-writers.js';
import type { Storage } from '../../../jobs/ports/storage.js';
import { encodeArrow } from './arrow-writer.js';
import { encodeCsv } from './csv-writer.js';
import { encodeJsonl } from './jsonl-writer.js';
import { encodeParquet } from './parquet-writer.js';
import { arrowPartitioner } from './partition-batches.js';

export interface EncodeOptions {
  /**
   * The output schema. Required when there are no batches (a chunk whose every row was rejected still
   * writes its part, with the right columns and no rows); otherwise taken from the first batch.
   */
  schema?: Schema;
}

/**
 * Writes one chunk's output rows as one object in one format.
 *
 * Memory: the whole object is encoded into one buffer before the single `storage.write`. That is bounded by
 * design: a writer only ever gets one chunk's output (key columns + scores of at most a few hundred thousand
 * rows, tens of MB), never a dataset, and one buffer keeps the write atomic and retryable as a single PUT.
 */
export interface BatchWriter extends PortBatchWriter {
  /** Encodes batches that share one schema. */
  encode(batches: readonly RecordBatch[], options?: EncodeOptions): Promise<Uint8Array>;
  /** Writes record batches, or tables of them (the scoring engine's output), as one part. */
  write(
    storage: Storage,
    uri: string,
    batches: readonly (RecordBatch | Table)[],
    options?: WriteBatchesOptions & EncodeOptions,
  ): Promise<WrittenPart>;
}

interface FormatEncoding {
  extension: string;
  contentType: string;
  /** `options` only reach Parquet: the text formats and Arrow have no codec or row groups to set. */
  encode(table: Table, options: WriterOptions): Uint8Array | Promise<Uint8Array>;
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

/**
 * The writer of one format with the job's file options. Specs are validated not to give text or Arrow
 * output a codec or row groups (`schemas/job-spec.ts`); a caller that does anyway is a bug, refused here
 * rather than written uncompressed.
 */
export function makeWriter(format: OutputFormat, writerOptions: WriterOptions = {}): BatchWriter {
  const encoding = ENCODINGS[format];
  const { compression, rowGroupRows } = writerOptions;
  if (format !== 'parquet' && ((compression ?? 'none') !== 'none' || rowGroupRows !== undefined))
    throw new TypeError(`${format} output takes no compression or rowGroupRows`);
  const encode = async (batches: readonly RecordBatch[], options: EncodeOptions = {}): Promise<Uint8Array> =>
    await encoding.encode(toTable(batches, options.schema), writerOptions);
  return {
    format,
    extension: encoding.extension,
    contentType: encoding.contentType,
    encode,
    async write(storage, uri, tablesOrBatches, options = {}) {
      const batches = tablesOrBatches.flatMap((b) => (b instanceof Table ? b.batches : [b]));
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

/** The writers of every output format (the pipeline's `OutputWriters` port); a writer holds no state. */
export const outputWriters: OutputWriters = { writerFor: makeWriter, partitioner: arrowPartitioner };

/** Encodes batches in `format` (with its file options) into one buffer; see `BatchWriter`. */
export async function encodeBatches(
  format: OutputFormat,
  batches: readonly RecordBatch[],
  options: EncodeOptions & WriterOptions = {},
): Promise<Uint8Array> {
  return await makeWriter(format, options).encode(batches, options);
}
