import type { ChunkPart, HiveColumn, InputFormat } from '../../schemas/chunk-descriptor.js';
import type { QuiverError } from '../../schemas/errors/quiver-error.js';
import type { RowBatch } from './batches.js';
import type { ObjectInfo, Storage } from './storage.js';

/**
 * Which columns a chunk's read yields, chosen by the scorer for its model: `columns` in this order (absent:
 * all), then `pack`ed float32 list columns the decoder builds from named columns (Parquet only).
 */
export interface ReadProjection {
  columns?: string[];
  pack?: Array<{ name: string; columns: string[] }>;
}

/** Column type names accepted in an explicit CSV/JSONL schema. */
export type ColumnTypeName = 'int32' | 'int64' | 'float32' | 'float64' | 'bool' | 'string' | 'timestamp';

/** A record a reader skipped (see `ReadPartOptions.onInvalidRecord`). */
export interface InvalidRecord {
  /** What is wrong and where: a QuiverError with code, object, row (when known) and byte offset. */
  error: QuiverError;
  /** The record's text as it was in the object, without its line break. */
  record: string;
  /** Good rows this part yielded before the skipped record: where it sat in the part's row stream. */
  rowInPart: number;
}

/** Read options; `R` is what a reader hands `onInvalidRecord` (a reader may promise a narrower error). */
export interface ReadPartOptions<R extends InvalidRecord = InvalidRecord> extends ReadProjection {
  /** CSV/JSONL: explicit column types; columns not named are inferred. */
  schema?: Record<string, ColumnTypeName>;
  /** CSV: whether the first line of the object is a header (default true). */
  header?: boolean;
  /** CSV: field delimiter (default ','). */
  delimiter?: string;
  /**
   * CSV/JSONL: called for each record that cannot be decoded on its own (a wrong field count, a bad value,
   * a line that is not a JSON object), which is then skipped instead of failing the read. Faults whose
   * extent is unknown (an unterminated quote, bytes that are not UTF-8) still throw. Absent: every fault
   * throws.
   */
  onInvalidRecord?: (invalid: R) => void;
  /**
   * `input.hivePartitioning`: the part's `key=value` folders below `prefix` become these columns (typed at
   * planning), after the file's own columns (or in place of a file column of the same name, as DuckDB
   * does); `columns` and `pack` may name them.
   */
  hive?: { prefix: string; columns: HiveColumn[] };
  signal?: AbortSignal;
}

/**
 * Reads one chunk part (one object, or a range of it) into batches. Readers fetch only the bytes the part
 * covers (plus what they need to align to record boundaries or read a footer).
 */
export interface FormatReader {
  readPart(storage: Storage, part: ChunkPart, options?: ReadPartOptions): AsyncIterable<RowBatch>;
}

/** One planned part of a CSV/JSONL object: bytes `[start, end)`, and its data rows when the plan counted them. */
export interface TextSplit {
  start: number;
  end: number;
  rows?: number;
  /** CSV: records in the part including blank lines, which error row numbers count. */
  records?: number;
}

export interface TextSplitOptions {
  /** Bytes per part to aim for. */
  targetBytes: number;
  /**
   * Rows per part to aim for (the job's `batch.chunkRows`): CSV parts are cut at exactly this many data
   * rows (or sooner at `targetBytes`); JSONL parts at the bytes that hold about this many lines, estimated
   * from the object's first MiB.
   */
  targetRows?: number;
  /** CSV: bytes per ranged read of the scan for record starts. */
  scanBlockBytes: number;
  /** CSV: whether the object's first record is a header, not counted as a row (default true). */
  header?: boolean;
  signal?: AbortSignal;
}

/** The reader of each input format (services/formats/make-reader.ts). */
export interface InputReaders {
  readerFor(format: InputFormat): FormatReader;
  /**
   * Record-aligned byte splits of one CSV or JSONL object, tiling it, for planning
   * (services/formats/text/text-split.ts): JSONL from its size alone, CSV by one scan for record starts.
   * Splits come in object order, each as soon as it is known (a CSV split once the scan has passed its
   * end), so planning can queue chunks before the scan reaches the end of a large object.
   */
  textSplits(
    storage: Storage,
    object: ObjectInfo,
    format: 'csv' | 'jsonl',
    options: TextSplitOptions,
  ): AsyncIterable<TextSplit>;
  /**
   * The record batches of one Arrow IPC object, for planning (services/formats/arrow-ipc-messages.ts):
   * one split per batch message with its rows, in object order — the file format from its footer's block
   * index, a stream by following its message headers; ranged reads of headers only. An object that cannot
   * be split by batches (dictionary-encoded columns) is one split `[0, size)` without rows.
   */
  arrowSplits(
    storage: Storage,
    object: ObjectInfo,
    options: { maxFooterBytes?: number; signal?: AbortSignal },
  ): AsyncIterable<TextSplit>;
  /**
   * The Hive partition columns of a listing, typed as DuckDB's `hive_partitioning` types them, in its
   * order: `folders` are the listed objects' folders relative to the input prefix (`dt=2026-11-28/hour=7/`,
   * `''` for none). Folders whose keys differ throw `HIVE_PARTITIONS_MISMATCH`.
   */
  hiveColumns(folders: readonly string[], options?: { signal?: AbortSignal }): Promise<HiveColumn[]>;
  /**
   * The row groups of one Parquet object from its footer alone (ranged reads of its tail), for planning;
   * a footer over `maxFooterBytes` (default 64 MiB) throws `PARQUET_FOOTER_TOO_LARGE`.
   */
  parquetRowGroups(
    storage: Storage,
    object: ObjectInfo,
    options: { maxFooterBytes?: number; signal?: AbortSignal },
  ): Promise<ParquetRowGroup[]>;
}

/** One row group as planning needs it: its rows and compressed bytes. */
export interface ParquetRowGroup {
  rows: number;
  bytes: number;
}
