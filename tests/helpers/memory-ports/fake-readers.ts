import type { RowBatch } from '../../../jobs/ports/batches.js';
import type {
  FormatReader,
  InputReaders,
  ReadPartOptions,
  TextSplit,
} from '../../../jobs/ports/input-readers.js';
import type { Storage } from '../../../jobs/ports/storage.js';
import type { ChunkPart } from '../../../schemas/chunk-descriptor.js';

/**
 * Rows `[firstRow, firstRow + numRows)` of input object `uri`. Fake inputs hold one row per byte (see
 * {@link fakeInput}), so a row is named by its object and its byte, and scores can be checked row by row.
 */
export interface FakeRowBatch extends RowBatch {
  readonly uri: string;
  readonly firstRow: number;
  slice(begin?: number, end?: number): FakeRowBatch;
}

export function fakeRowBatch(uri: string, firstRow: number, numRows: number): FakeRowBatch {
  return {
    uri,
    firstRow,
    numRows,
    slice(begin = 0, end = numRows) {
      const from = Math.min(Math.max(0, begin), numRows);
      return fakeRowBatch(uri, firstRow + from, Math.max(0, Math.min(end, numRows) - from));
    },
  };
}

/** The bytes of a fake input object of `rows` rows (one byte per row). */
export function fakeInput(rows: number): string {
  return 'r'.repeat(rows);
}

export interface FakeReaderOptions {
  /** Rows per planned text split and per Parquet row group (default 10). */
  splitRows?: number;
  /** Rows per batch a part is read in (default 4). */
  batchRows?: number;
  /** Called before each part is read: a thrown error fails the read there (an injected read fault). */
  beforePart?: (part: ChunkPart) => void;
}

export interface FakeReaders extends InputReaders {
  /** Every part read, with the options the reader got. */
  readonly reads: Array<{ part: ChunkPart; options: ReadPartOptions | undefined }>;
  readonly options: FakeReaderOptions;
}

/**
 * {@link InputReaders} over fake inputs: CSV/JSONL plan into record-aligned splits of `splitRows` rows
 * (counted, so errors name exact rows), Parquet into row groups of as many, and every format reads a part's rows as {@link FakeRowBatch}es,
 * through `storage` (so a changed or missing object fails the read as it would with real readers).
 */
export function makeFakeReaders(options: FakeReaderOptions = {}): FakeReaders {
  const reads: FakeReaders['reads'] = [];
  const reader: FormatReader = {
    async *readPart(storage: Storage, part: ChunkPart, o?: ReadPartOptions) {
      reads.push({ part, options: o });
      options.beforePart?.(part);
      const range = part.range.kind === 'bytes' ? part.range : undefined;
      const bytes = await storage.read(part.uri, range, { signal: o?.signal });
      // Parquet parts name row groups: their rows start at the part's row offset, as many as planned.
      const [first, rows] =
        part.range.kind === 'rowGroups'
          ? [part.range.rowOffset, part.rows ?? 0]
          : [range?.start ?? 0, bytes.length];
      const batchRows = options.batchRows ?? 4;
      for (let row = 0; row < rows; row += batchRows) {
        o?.signal?.throwIfAborted();
        yield fakeRowBatch(part.uri, first + row, Math.min(batchRows, rows - row));
      }
    },
  };
  return {
    reads,
    options,
    readerFor: () => reader,
    async *textSplits(_storage, object): AsyncGenerator<TextSplit> {
      const splitRows = options.splitRows ?? 10;
      for (let start = 0; start < object.size; start += splitRows) {
        const end = Math.min(object.size, start + splitRows);
        // A split at a time, as the real boundary scan hands them out between its reads.
        await Promise.resolve();
        yield { start, end, rows: end - start, records: end - start };
      }
    },
    // Arrow objects plan whole here: one split without rows, as an unsplittable (dictionary) object.
    async *arrowSplits(_storage, object): AsyncGenerator<TextSplit> {
      await Promise.resolve();
      yield { start: 0, end: object.size };
    },
    // Partition keys of the first folder, every one a string (the real typing is DuckDB's).
    hiveColumns(folders) {
      const keys = (folders[0] ?? '').split('/').filter((s) => s.indexOf('=') > 0);
      return Promise.resolve(
        keys.map((s) => ({ name: s.slice(0, s.indexOf('=')), type: 'VARCHAR' as const })),
      );
    },
    parquetRowGroups(_storage, object) {
      const groupRows = options.splitRows ?? 10;
      const groups = [];
      for (let start = 0; start < object.size; start += groupRows) {
        const rows = Math.min(groupRows, object.size - start);
        groups.push({ rows, bytes: rows });
      }
      return Promise.resolve(groups);
    },
  };
}
