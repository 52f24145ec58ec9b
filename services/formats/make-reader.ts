import { asyncBuffer } from '../storage/async-buffer.js';
import { readParquetFooter } from './parquet/parquet-footer.js';
import type { InputFormat } from '../../schemas/chunk-descriptor.js';
import type { InputReaders } from '../../jobs/ports/input-readers.js';
import { makeArrowReader } from './arrow-reader.js';
import { type CsvReaderOptions, makeCsvReader } from './text/csv-duckdb-reader.js';
import type { FormatReader } from './format-reader.js';
import { makeJsonlReader } from './text/jsonl-reader.js';
import { type ParquetReaderOptions, makeParquetReader } from './parquet/parquet-reader.js';
import type { TextReaderOptions } from './text/record-boundaries.js';
import { planTextSplits } from './text/text-split.js';

/** The port's readers, yielding Arrow record batches; they also split text objects for the planner. */
export interface FormatReaders extends InputReaders {
  readerFor(format: InputFormat): FormatReader;
  /** Releases the Parquet and CSV decoders' native resources. Safe to call twice. */
  close(): Promise<void>;
}

/** One reader per input format for a process; the Parquet one owns a DuckDB instance, made on first use. */
export function makeFormatReaders(
  options: {
    parquet?: ParquetReaderOptions;
    /** CSV and JSONL reads: block sizes, batch rows, `maxRecordBytes` (64 MiB); each has its default. */
    text?: TextReaderOptions;
    /** CSV's DuckDB path: staging folder and threads. */
    csv?: Pick<CsvReaderOptions, 'tempDir' | 'threads'>;
  } = {},
): FormatReaders {
  const parquet = makeParquetReader(options.parquet);
  const csv = makeCsvReader({ ...options.text, ...options.csv });
  const readers: Record<InputFormat, FormatReader> = {
    parquet,
    arrow: makeArrowReader(),
    csv,
    jsonl: makeJsonlReader(options.text),
  };
  return {
    readerFor: (format) => readers[format],
    textSplits: planTextSplits,
    async parquetRowGroups(storage, object, { maxFooterBytes, signal }) {
      const footer = await readParquetFooter(
        asyncBuffer(storage, object, { signal }),
        object.uri,
        maxFooterBytes === undefined ? {} : { maxFooterBytes },
      );
      return footer.rowGroups.map((group) => ({ rows: group.rows, bytes: group.byteEnd - group.byteStart }));
    },
    async close() {
      const results = await Promise.allSettled([parquet.close(), csv.close()]);
      const failed = results.find((r) => r.status === 'rejected');
      if (failed) throw failed.reason;
    },
  };
}
