import type { OutputFormat } from '../../schemas/chunk-descriptor.js';
import type { JobOutput } from '../../schemas/job-spec.js';
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

/**
 * How a writer encodes its parts: the spec's file options, read as given (absent: the format's defaults,
 * Snappy and arrow-rs' row-group size for Parquet), so a job that names none writes what it always wrote.
 */
export type WriterOptions = Pick<JobOutput, 'compression' | 'rowGroupRows'>;

/** One partition's rows of a segment (`output.partitionBy`), the partition columns left out. */
export interface PartitionRows {
  /** The partition's value of each partition column as text (null: a null value). */
  values: Record<string, string | null>;
  batches: OutputBatch[];
  /** The rows' schema without the partition columns (for the writer). */
  schema: BatchSchema;
  rows: number;
}

/** Splits output rows by the values of partition columns (services/formats/writers/partition-batches.ts). */
export interface OutputPartitioner {
  /**
   * The rows of `batches` grouped by their values of `columns`, in first-seen order, each group without
   * those columns. Throws `PARTITION_COLUMN_MISSING` when the rows lack one of them.
   */
  split(batches: readonly OutputBatch[], columns: readonly string[]): PartitionRows[];
  /**
   * The rows of `batches` with only the columns `columns` names, in that order, each renamed `from` → `to`
   * (zero-copy); `schema` is projected the same way for a segment without rows.
   */
  project(
    batches: readonly OutputBatch[],
    schema: BatchSchema,
    columns: ReadonlyArray<{ from: string; to: string }>,
  ): { batches: OutputBatch[]; schema: BatchSchema };
}

/** The writer of each output format. */
export interface OutputWriters {
  writerFor(format: OutputFormat, options?: WriterOptions): BatchWriter;
  /** Splits rows by partition values for `output.partitionBy`. Absent: such jobs fail at their first part. */
  partitioner?: OutputPartitioner;
}
