import type { InputFormat } from '../../schemas/chunk-descriptor.js';
import { makeArrowReader } from './arrow-reader.js';
import { makeCsvReader } from './csv-reader.js';
import type { FormatReader } from './format-reader.js';
import { makeJsonlReader } from './jsonl-reader.js';
import { type ParquetReaderOptions, makeParquetReader } from './parquet/parquet-reader.js';
import type { TextReaderOptions } from './record-boundaries.js';

export interface FormatReaders {
  readerFor(format: InputFormat): FormatReader;
  /** Releases the Parquet decoder's native resources. Safe to call twice. */
  close(): Promise<void>;
}

/** One reader per input format for a process; the Parquet one owns a DuckDB instance, made on first use. */
export function makeFormatReaders(
  options: {
    parquet?: ParquetReaderOptions;
    /** CSV and JSONL reads: block sizes, batch rows, `maxRecordBytes` (64 MiB); each has its default. */
    text?: TextReaderOptions;
  } = {},
): FormatReaders {
  const parquet = makeParquetReader(options.parquet);
  const readers: Record<InputFormat, FormatReader> = {
    parquet,
    arrow: makeArrowReader(),
    csv: makeCsvReader(options.text),
    jsonl: makeJsonlReader(options.text),
  };
  return {
    readerFor: (format) => readers[format],
    close: () => parquet.close(),
  };
}
