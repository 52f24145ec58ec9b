import type { RecordBatch } from 'apache-arrow';
import type { ChunkPart } from '../../schemas/chunk-descriptor.js';
import type { Storage } from '../../jobs/ports/storage.js';
import type { BadDataError } from './errors/bad-data-error.js';

/** Column type names accepted in an explicit CSV/JSONL schema. */
export type ColumnTypeName = 'int32' | 'int64' | 'float32' | 'float64' | 'bool' | 'string' | 'timestamp';

export interface ReadPartOptions {
  /** Columns to read, in this order; absent reads all. Unknown names throw SCHEMA_MISMATCH. */
  columns?: string[];
  /** CSV/JSONL: explicit column types; columns not named are inferred. */
  schema?: Record<string, ColumnTypeName>;
  /** CSV: whether the first line of the object is a header (default true). */
  header?: boolean;
  /** CSV: field delimiter (default ','). */
  delimiter?: string;
  /**
   * Parquet: fixed-size float32 list columns to build in the decoder from the named columns, row-major,
   * as a model input takes them (DuckDB does the column → row transposition in native code, off the
   * JavaScript thread). They come after the projected columns. Other readers do not offer this.
   */
  pack?: Array<{ name: string; columns: string[] }>;
  /**
   * CSV/JSONL: called for each record that cannot be decoded on its own (a wrong field count, a bad value,
   * a line that is not a JSON object), which is then skipped instead of failing the read. Faults whose
   * extent is unknown (an unterminated quote, bytes that are not UTF-8) still throw. Absent: every fault
   * throws.
   */
  onInvalidRecord?: (invalid: InvalidRecord) => void;
  signal?: AbortSignal;
}

/** A record a reader skipped (see `ReadPartOptions.onInvalidRecord`). */
export interface InvalidRecord {
  /** What is wrong and where: code, object, row (when known) and byte offset. */
  error: BadDataError;
  /** The record's text as it was in the object, without its line break. */
  record: string;
  /** Good rows this part yielded before the skipped record: where it sat in the part's row stream. */
  rowInPart: number;
}

/**
 * Reads one chunk part (one object, or a range of it) into Arrow record batches. Readers fetch only the
 * bytes the part covers (plus what they need to align to record boundaries or read a footer).
 */
export interface FormatReader {
  readPart(storage: Storage, part: ChunkPart, options?: ReadPartOptions): AsyncIterable<RecordBatch>;
}
