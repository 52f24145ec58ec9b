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
import type { RecordBatch } from 'apache-arrow';
import type { ChunkPart } from '../../../schemas/chunk-descriptor.js';
import type { Storage } from '../../../jobs/ports/storage.js';
import type { FormatReader, ReadPartOptions } from '../format-reader.js';
import type { TextColumn } from './column-types.js';
import { projectColumns } from './column-types.js';
import { csvSettings, readCsvLayout, readCsvPartExact } from './csv-reader.js';
import {
  type DuckdbTextOptions,
  duckdbOrExact,
  duckdbTextReaderSetup,
  sqlIdentifier,
  sqlString,
  stageRecords,
  withStagedPart,
} from './duckdb-staging.js';
import {
  LF,
  lastCsvRecordStart,
  nextCsvRecordStart,
  textPartAccess,
  type TextReaderOptions,
} from './record-boundaries.js';

export interface CsvReaderOptions extends TextReaderOptions, DuckdbTextOptions {}

export interface CsvReader extends FormatReader {
  /** Releases DuckDB's native resources. Safe to call twice. */
  close(): Promise<void>;
}

const UNDERSCORE = 0x5f;

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
  const { knobs, staging, stageBlockBytes, minDuckdbBytes, duckdb, exactFrom, close } = duckdbTextReaderSetup(
    readerOptions,
    readCsvPartExact,
  );

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

    yield* withStagedPart(staging, '.csv', duckdb, async function* (path, connect) {
      const state = { inQuotes: false };
      let underscore = false;
      const staged = await stageRecords({
        format: 'csv',
        uri,
        read,
        readInto: (from, to, into) =>
          storage.read(uri, { start: from, end: to }, { signal: options.signal, into }),
        start,
        end,
        size,
        path,
        stripBom: start === 0,
        boundaries: {
          lastStart: (block) => lastCsvRecordStart(block, 0, state),
          nextStart: (block) => nextCsvRecordStart(block, 0, 1, state),
        },
        inspect: (bytes) => {
          underscore ||= bytes.indexOf(UNDERSCORE) >= 0;
        },
        knobs,
        stageBlockBytes,
      });
      const floats = outColumns.some((c) => c.type === 'float32' || c.type === 'float64');
      if (staged === undefined || (underscore && floats)) {
        yield* exactFrom(storage, part, options, 0);
        return;
      }
      if (staged === 0) return;
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
      yield* duckdbOrExact({
        connection: await connect(),
        sql,
        batchRows: knobs.batchRows,
        // A null float is an empty cell or one DuckDB could not read: the exact parser decides which.
        suspicious: (batch) => floatColumns.some((i) => batch.getChildAt(i)!.nullCount > 0),
        exactFrom: (skip) => exactFrom(storage, part, options, skip),
        ...(options.signal ? { signal: options.signal } : {}),
      });
    });
  }

  return { readPart, close };
}
