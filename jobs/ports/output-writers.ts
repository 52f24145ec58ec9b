import type { OutputFormat } from '../../schemas/chunk-descriptor.js';
import type { BatchSchema, OutputBatch } from './batches.js';
import type { CallOptions, Storage } from './storage.js';

/** What one written part holds; the chunk commit and the manifest record it. */
export interface WrittenPart {
  uri: string;
  rows: number;
  bytes: number;
  /** SHA-256 of the bytes written (lowercase hex): the manifest lists it so readers can verify parts. */
  sha256: string;
}

export interface WriteBatchesOptions extends CallOptions {
  /**
   * The output schema. Required when there are no batches (a chunk whose every row was rejected still
   * writes its part, with the right columns and no rows); otherwise taken from the first batch.
   */
  schema?: BatchSchema;
}

/** Writes one chunk's output rows as one object in one format (services/formats/writers/). */
export interface BatchWriter {
  readonly format: OutputFormat;
  /** Object name suffix for parts in this format, with the dot (`.parquet`). */
  readonly extension: string;
  readonly contentType: string;
  /** Encodes the batches and writes them to `uri` (overwriting: a rerun of a chunk writes the same rows). */
  write(
    storage: Storage,
    uri: string,
    batches: readonly OutputBatch[],
    options?: WriteBatchesOptions,
  ): Promise<WrittenPart>;
}

/** The writer of each output format. */
export interface OutputWriters {
  writerFor(format: OutputFormat): BatchWriter;
}
