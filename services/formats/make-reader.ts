import { asyncBuffer } from '../storage/async-buffer.js';
import { readParquetFooter } from './parquet/parquet-footer.js';
import type { InputFormat } from '../../schemas/chunk-descriptor.js';
import type { InputReaders } from '../../jobs/ports/input-readers.js';
import { makeArrowReader } from './arrow-reader.js';
import { planArrowSplits } from './arrow-ipc-messages.js';
import { type CsvReaderOptions, makeCsvReader } from './text/csv-duckdb-reader.js';
import type { FormatReader } from './format-reader.js';
import { inferHiveColumns, makeHiveValues, withHivePartitions } from './hive-partitions.js';
import { makeJsonlDuckdbReader } from './text/jsonl-duckdb-reader.js';
import { type ParquetReaderOptions, makeParquetReader } from './parquet/parquet-reader.js';
import type { TextReaderOptions } from './text/record-boundaries.js';
import { planTextSplits } from './text/text-split.js';

/** The port's readers, yielding Arrow record batches; they also split text objects for the planner. */
export interface FormatReaders extends InputReaders {
  readerFor(format: InputFormat): FormatReader;
  /** Releases the Parquet, CSV and JSONL decoders' native resources. Safe to call twice. */
  close(): Promise<void>;
}

/** One reader per input format for a process; the Parquet one owns a DuckDB instance, made on first use. */
export function makeFormatReaders(
  options: {
    parquet?: ParquetReaderOptions;
    /** CSV and JSONL reads: block sizes, batch rows, `maxRecordBytes` (64 MiB); each has its default. */
    text?: TextReaderOptions;
    /** CSV's and JSONL's DuckDB paths: staging folder and threads. */
    csv?: Pick<CsvReaderOptions, 'tempDir' | 'threads'>;
  } = {},
): FormatReaders {
  const parquet = makeParquetReader(options.parquet);
  const csv = makeCsvReader({ ...options.text, ...options.csv });
  const jsonl = makeJsonlDuckdbReader({ ...options.text, ...options.csv });
  // Partition values are cast by DuckDB as its hive_partitioning casts them (made on first use).
  const hiveValues = makeHiveValues();
  const readers: Record<InputFormat, FormatReader> = {
    parquet,
    arrow: makeArrowReader(),
    csv,
    jsonl,
  };
  return {
    // Every format gets its parts' Hive partition columns the same way, after decoding.
    readerFor: (format) => withHivePartitions(readers[format], hiveValues),
    hiveColumns: (folders, { signal } = {}) =>
      inferHiveColumns(folders, { tempDir: options.parquet?.tempDir, signal }),
    textSplits: planTextSplits,
    arrowSplits: planArrowSplits,
    async parquetRowGroups(storage, object, { maxFooterBytes, signal }) {
      const footer = await readParquetFooter(
        asyncBuffer(storage, object, { signal }),
        object.uri,
        maxFooterBytes === undefined ? {} : { maxFooterBytes },
      );
      return footer.rowGroups.map((group) => ({ rows: group.rows, bytes: group.byteEnd - group.byteStart }));
    },
    async close() {
      const results = await Promise.allSettled([
        parquet.close(),
        csv.close(),
        jsonl.close(),
        hiveValues.close(),
      ]);
      const failed = results.find((r) => r.status === 'rejected');
      if (failed) throw failed.reason;
    },
  };
}
