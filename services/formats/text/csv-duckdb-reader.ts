/**
 * CSV reader on DuckDB's native `read_csv` (measured 1.5-2× Quiver's own parser per CPU-second; see README,
 * Formats). The planner's record-aligned part `[start, end)` is staged as a local file holding exactly the
 * part's records (through the end of the record that straddles `end`, found with the same quote-parity scan
 * the exact reader uses), and DuckDB reads it with the column names and types the exact reader would use
 * (`readCsvLayout`: header, explicit schema, inference from the object's head), so both paths agree on the
 * schema of every part.
 *
 * DuckDB is only trusted where it cannot disagree with the exact parser (csv-reader.ts):
 * - Columns typed bool or timestamp (whose spellings DuckDB parses differently) send the part to the exact
 *   parser.
 * - Integers are read as text and cast in SQL behind a digits-only check, since DuckDB's own integer cast
 *   rounds "1.5"; floats are read as DOUBLE (float32 columns rounded from it, like `Math.fround`), but a
 *   part holding a `_` (DuckDB reads "1_000" as 1000) or yielding a null float (an empty or unreadable
 *   cell) goes to the exact parser from that row.
 * - Anything DuckDB refuses (a ragged row, a stray quote, a cast, bytes that are not UTF-8, a line over its
 *   limit) re-reads the part with the exact parser, which drops the rows already yielded and then names
 *   the error, or hands each skipped record to `onInvalidRecord`, with its exact row, byte offset and text.
 */
import { randomUUID } from 'node:crypto';
import { open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RecordBatch } from 'apache-arrow';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import type { ChunkPart } from '../../../schemas/chunk-descriptor.js';
import type { Storage } from '../../../jobs/ports/storage.js';
import type { FormatReader, ReadPartOptions } from '../format-reader.js';
import { RecordTooLong } from '../errors/record-too-long.js';
import { ArrowChunkConverter } from '../parquet/duckdb-to-arrow.js';
import type { TextColumn } from './column-types.js';
import { projectColumns } from './column-types.js';
import { csvSettings, readCsvLayout, readCsvPartExact } from './csv-reader.js';
import {
  LF,
  lastCsvRecordStart,
  nextCsvRecordStart,
  textPartAccess,
  textReaderKnobs,
  type TextReaderOptions,
} from './record-boundaries.js';
import { skipRows } from '../../../jobs/skip-rows.js';

export interface CsvReaderOptions extends TextReaderOptions {
  /** Where parts are staged for DuckDB (default: the OS temp dir). */
  tempDir?: string;
  /** DuckDB threads (default: DuckDB's own, the machine's cores). */
  threads?: number;
  /** Bytes per ranged read when staging a part (default 16 MiB). */
  stageBlockBytes?: number;
  /**
   * Parts smaller than this go to the exact parser (default 256 KiB): a DuckDB query and its staged file
   * cost a few milliseconds, about what the exact parser takes for that many bytes.
   */
  minDuckdbBytes?: number;
}

export interface CsvReader extends FormatReader {
  /** Releases DuckDB's native resources. Safe to call twice. */
  close(): Promise<void>;
}

const UNDERSCORE = 0x5f;

function sqlString(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

function sqlIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** Whether DuckDB may read these columns (see the file comment); the rest go to the exact parser. */
export function duckdbReadsColumns(columns: readonly TextColumn[]): boolean {
  return columns.every((c) => c.type !== 'bool' && c.type !== 'timestamp');
}

/** The `read_csv` column type of a text column: integers come in as text, checked and cast in SQL. */
function readType(column: TextColumn): string {
  return column.type === 'float32' || column.type === 'float64' ? 'DOUBLE' : 'VARCHAR';
}

/** The select expression of one projected column, typed as the exact reader types it. */
function selectExpression(column: TextColumn): string {
  const name = sqlIdentifier(column.name);
  switch (column.type) {
    case 'float32':
      return `${name}::FLOAT AS ${name}`;
    case 'int32':
    case 'int64': {
      const target = column.type === 'int32' ? 'INTEGER' : 'BIGINT';
      // error() aborts the query, and the exact parser then names the cell.
      return `CASE WHEN ${name} IS NULL OR regexp_full_match(${name}, '\\s*[+-]?\\d{1,19}\\s*') THEN CAST(${name} AS ${target}) ELSE error('not an integer') END AS ${name}`;
    }
    default:
      return name;
  }
}

/** A CSV `FormatReader` on DuckDB, falling back to the exact parser (see the file comment). */
export function makeCsvReader(readerOptions: CsvReaderOptions = {}): CsvReader {
  const knobs = textReaderKnobs(readerOptions);
  const tempDir = readerOptions.tempDir ?? tmpdir();
  const stageBlockBytes = readerOptions.stageBlockBytes ?? 16 * 1024 * 1024;
  const minDuckdbBytes = readerOptions.minDuckdbBytes ?? 256 * 1024;
  let instance: Promise<DuckDBInstance> | undefined;
  const connect = async (): Promise<DuckDBConnection> => {
    instance ??= DuckDBInstance.create(
      ':memory:',
      readerOptions.threads ? { threads: String(readerOptions.threads) } : {},
    );
    return (await instance).connect();
  };

  /** The exact parser over the whole part, minus the first `skip` rows (which DuckDB already yielded). */
  /** The exact parser's batches of the part, less the `skip` rows already yielded. */
  const exactFrom = (storage: Storage, part: ChunkPart, options: ReadPartOptions, skip: number) =>
    skipRows(readCsvPartExact(storage, part, options, knobs), skip);

  /**
   * Writes the part's records to `path`: from `start` through the end of the record holding byte
   * `end - 1`. Returns what the staged bytes hold, or undefined when that record runs past
   * `maxRecordBytes` (the exact parser then names it).
   */
  async function stage(
    uri: string,
    read: (start: number, end: number) => Promise<Uint8Array>,
    readInto: (start: number, end: number, into: Uint8Array) => Promise<Uint8Array>,
    start: number,
    end: number,
    size: number,
    path: string,
    stripBom: boolean,
  ): Promise<{ underscore: boolean; bytes: number } | undefined> {
    const handle = await open(path, 'w');
    try {
      const state = { inQuotes: false };
      let underscore = false;
      let written = 0;
      let recordStart = start;
      const append = async (bytes: Uint8Array): Promise<void> => {
        if (stripBom && written === 0 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf)
          bytes = bytes.subarray(3);
        underscore ||= bytes.indexOf(UNDERSCORE) >= 0;
        await handle.write(bytes, 0, bytes.length, written);
        written += bytes.length;
      };
      // A record still open past the limit plus a line break is too long whatever follows; one near the
      // limit goes to the exact parser, which applies the limit to the byte.
      const { maxRecordBytes } = knobs;
      const tooLong = (reached: number): boolean => {
        if (reached - recordStart > maxRecordBytes + 2)
          throw new RecordTooLong('csv', uri, recordStart, maxRecordBytes);
        return reached - recordStart > maxRecordBytes - 2;
      };
      const blockBytes = Math.min(stageBlockBytes, maxRecordBytes + 3);
      // One buffer for every block: a fresh one per read costs its first-touch page faults (about the
      // cost of staging itself on the dev VM).
      const buffer = new Uint8Array(blockBytes);
      let at = start;
      while (at < end) {
        const block = await readInto(at, Math.min(end, at + blockBytes), buffer);
        const last = lastCsvRecordStart(block, 0, state);
        if (last >= 0) recordStart = at + last;
        await append(block);
        at += block.length;
        if (tooLong(at)) return undefined;
      }
      // The record straddling `end` is the part's: read on to its end, in growing tail blocks.
      for (let tail = knobs.tailBlockSize; recordStart < end && at < size; tail *= 2) {
        const block = await read(at, Math.min(size, at + tail, recordStart + maxRecordBytes + 3));
        const found = nextCsvRecordStart(block, 0, 1, state);
        await append(found >= 0 ? block.subarray(0, found) : block);
        if (found >= 0) break;
        at += block.length;
        if (tooLong(at)) return undefined;
      }
      return { underscore, bytes: written };
    } finally {
      await handle.close();
    }
  }

  async function* readPart(
    storage: Storage,
    part: ChunkPart,
    options: ReadPartOptions = {},
  ): AsyncGenerator<RecordBatch> {
    const uri = part.uri;
    const settings = csvSettings(uri, options);
    const access = textPartAccess(storage, part, options.signal);
    if (!access) return;
    const { read, size, range } = access;
    const { layout, head } = await readCsvLayout(read, size, settings, knobs);
    const projection = projectColumns(layout.columns, options.columns, uri);
    const outColumns = projection.map((i) => layout.columns[i]!);
    const start = Math.max(range.start, layout.dataStart);
    const end = range.end;
    if (start >= end) return;
    const aligned =
      start === 0 || (start <= head.length ? head[start - 1] : (await read(start - 1, start))[0]) === LF;
    // One column: a blank line is a null row to DuckDB and no row to the exact parser.
    if (
      !aligned ||
      end - start < minDuckdbBytes ||
      layout.columns.length < 2 ||
      !duckdbReadsColumns(outColumns)
    ) {
      yield* exactFrom(storage, part, options, 0);
      return;
    }

    const path = join(tempDir, `quiver-${randomUUID()}.csv`);
    let yielded = 0;
    let connection: DuckDBConnection | undefined;
    try {
      const staged = await stage(
        uri,
        read,
        (from, to, into) => storage.read(uri, { start: from, end: to }, { signal: options.signal, into }),
        start,
        end,
        size,
        path,
        start === 0,
      );
      const floats = outColumns.some((c) => c.type === 'float32' || c.type === 'float64');
      if (!staged || (staged.underscore && floats)) {
        yield* exactFrom(storage, part, options, 0);
        return;
      }
      if (staged.bytes === 0) return;
      const floatColumns = outColumns.flatMap((c, i) =>
        c.type === 'float32' || c.type === 'float64' ? [i] : [],
      );
      const columnTypes = layout.columns
        .map((c) => `${sqlString(c.name)}: ${sqlString(readType(c))}`)
        .join(', ');
      const sql =
        `SELECT ${outColumns.map(selectExpression).join(', ')} FROM read_csv(${sqlString(path)}, ` +
        `columns = {${columnTypes}}, header = false, auto_detect = false, delim = ${sqlString(settings.delimiter)}, ` +
        `quote = '"', escape = '"', strict_mode = true, allow_quoted_nulls = false, null_padding = false)`;
      connection = await connect();
      let converter: ArrowChunkConverter | undefined;
      let result;
      try {
        result = await connection.stream(sql);
        converter = new ArrowChunkConverter(result.columnNames(), result.columnTypes());
      } catch {
        result = undefined;
      }
      for (;;) {
        options.signal?.throwIfAborted();
        let batch: RecordBatch | undefined;
        let refused = true;
        if (result !== undefined && converter !== undefined) {
          try {
            const chunk = await result.fetchChunk();
            if (!chunk || chunk.rowCount === 0) break;
            batch = converter.convert(chunk);
            refused = false;
          } catch {
            refused = true;
          }
        }
        // A null float is an empty cell or one DuckDB could not read: the exact parser decides which.
        if (refused || floatColumns.some((i) => batch!.getChildAt(i)!.nullCount > 0)) {
          yield* exactFrom(storage, part, options, yielded);
          return;
        }
        // DuckDB hands over 2,048 rows at a time; `batchRows` caps a batch below that.
        for (let from = 0; from < batch!.numRows; from += knobs.batchRows) {
          const piece =
            batch!.numRows <= knobs.batchRows ? batch! : batch!.slice(from, from + knobs.batchRows);
          yielded += piece.numRows;
          yield piece;
        }
      }
    } finally {
      connection?.closeSync();
      await rm(path, { force: true });
    }
  }

  return {
    readPart,
    async close() {
      const pending = instance;
      instance = undefined;
      if (pending) (await pending).closeSync();
    },
  };
}
