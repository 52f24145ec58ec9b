/**
 * JSONL reader on DuckDB's native `read_json` (measured 2–4× the exact reader per CPU-second; see README,
 * Formats). The part's lines — from the first line starting in `[start, end)` through the line holding
 * byte `end - 1`, as the exact reader owns them — are staged as a local file, and DuckDB reads the projected
 * columns with the names and types the exact reader would use (`readJsonlLayout`: keys of the object's head,
 * explicit schema), so both paths agree on the schema of every part.
 *
 * DuckDB is only trusted where it cannot disagree with the exact reader (jsonl-reader.ts):
 * - Columns typed bool or timestamp (whose spellings DuckDB parses differently) send the part to the exact
 *   reader.
 * - Numbers are read as DOUBLE, as `JSON.parse` reads them; integer columns are cast in SQL behind an
 *   integral, in-range check (DuckDB's own integer read rounds 1.5 to 2); float32 is rounded from the
 *   double, like a Float32Array store.
 * - Text columns are read as DuckDB's JSON type and taken only when the value is a JSON string (DuckDB
 *   would give a number's source text where the exact reader gives its `JSON.stringify`).
 * - Staged bytes go through `makeJsonlValueCheck`, which finds what DuckDB reads otherwise (a boolean or
 *   text in a number column, a `null` line, `NaN` literals, trailing commas, the integer `-0`); a hit sends
 *   the part to the exact reader.
 * - Anything DuckDB refuses (malformed JSON, a cast, bytes that are not UTF-8, duplicate keys) re-reads the
 *   part with the exact reader, which drops the rows already yielded and then names the error, or hands
 *   each skipped line to `onInvalidRecord`, with its exact row, byte offset and text.
 */
import type { RecordBatch } from 'apache-arrow';
import type { ChunkPart } from '../../../schemas/chunk-descriptor.js';
import type { Storage } from '../../../jobs/ports/storage.js';
import type { FormatReader, ReadPartOptions } from '../format-reader.js';
import type { TextColumn } from './column-types.js';
import { duckdbReadsColumns } from './csv-duckdb-reader.js';
import {
  type DuckdbTextOptions,
  duckdbOrExact,
  duckdbTextReaderSetup,
  sqlIdentifier,
  sqlString,
  stageRecords,
  withStagedPart,
} from './duckdb-staging.js';
import { jsonlPartColumns, readJsonlPartExact } from './jsonl-reader.js';
import { makeJsonlValueCheck } from './jsonl-value-check.js';
import { LF, alignJsonlStart, textPartAccess, type TextReaderOptions } from './record-boundaries.js';

export interface JsonlReaderOptions extends TextReaderOptions, DuckdbTextOptions {}

export interface JsonlReader extends FormatReader {
  /** Releases DuckDB's native resources. Safe to call twice. */
  close(): Promise<void>;
}

/** The select expression of one projected column (read as DOUBLE or JSON), typed as the exact reader types it. */
function selectExpression(column: TextColumn): string {
  const name = sqlIdentifier(column.name);
  switch (column.type) {
    case 'float32':
      return `${name}::FLOAT AS ${name}`;
    case 'int32':
      // error() aborts the query, and the exact reader then names the value.
      return `CASE WHEN ${name} IS NULL THEN NULL WHEN ${name} = trunc(${name}) AND ${name} BETWEEN -2147483648 AND 2147483647 THEN CAST(${name} AS INTEGER) ELSE error('not an int32') END AS ${name}`;
    case 'int64':
      return `CASE WHEN ${name} IS NULL THEN NULL WHEN ${name} = trunc(${name}) AND abs(${name}) < 9223372036854775808.0 THEN CAST(${name} AS BIGINT) ELSE error('not an int64') END AS ${name}`;
    case 'string':
      // Read as JSON: DuckDB gives a number's source text ("1.0"), the exact reader its JSON.stringify
      // ("1"), so only JSON strings are read here.
      return `CASE WHEN ${name} IS NULL OR json_type(${name}) = 'NULL' THEN NULL WHEN json_type(${name}) = 'VARCHAR' THEN ${name} ->> '$' ELSE error('not a string') END AS ${name}`;
    default:
      return name;
  }
}

const readType = (column: TextColumn): string => (column.type === 'string' ? 'JSON' : 'DOUBLE');

/** A JSONL `FormatReader` on DuckDB, falling back to the exact reader (see the file comment). */
export function makeJsonlDuckdbReader(readerOptions: JsonlReaderOptions = {}): JsonlReader {
  const { knobs, staging, stageBlockBytes, minDuckdbBytes, duckdb, exactFrom, close } = duckdbTextReaderSetup(
    readerOptions,
    readJsonlPartExact,
  );

  async function* readPart(
    storage: Storage,
    part: ChunkPart,
    options: ReadPartOptions = {},
  ): AsyncGenerator<RecordBatch> {
    const uri = part.uri;
    const access = textPartAccess(storage, part, options.signal);
    if (!access) return;
    const { read, size, range } = access;
    const { outColumns } = await jsonlPartColumns(read, size, uri, options, knobs);
    if (
      range.end - range.start < minDuckdbBytes ||
      outColumns.length === 0 ||
      !duckdbReadsColumns(outColumns)
    ) {
      yield* exactFrom(storage, part, options, 0);
      return;
    }
    const aligned =
      range.start === 0
        ? { lineStart: 0 }
        : await alignJsonlStart(read, range.start, range.end, size, knobs.blockSize);
    if (aligned === undefined) return;

    yield* withStagedPart(staging, '.jsonl', duckdb, async function* (path, connect) {
      const check = makeJsonlValueCheck(outColumns.filter((c) => c.type !== 'string').map((c) => c.name));
      const staged = await stageRecords({
        format: 'jsonl',
        uri,
        read,
        readInto: (from, to, into) =>
          storage.read(uri, { start: from, end: to }, { signal: options.signal, into }),
        start: aligned.lineStart,
        end: range.end,
        size,
        path,
        stripBom: aligned.lineStart === 0,
        boundaries: {
          lastStart: (block) => {
            const newline = block.lastIndexOf(LF);
            return newline < 0 ? -1 : newline + 1;
          },
          nextStart: (block) => {
            const newline = block.indexOf(LF);
            return newline < 0 ? -1 : newline + 1;
          },
        },
        inspect: (bytes) => check.feed(bytes),
        knobs,
        stageBlockBytes,
      });
      if (staged === undefined || check.suspicious) {
        yield* exactFrom(storage, part, options, 0);
        return;
      }
      if (staged === 0) return;
      const columnTypes = outColumns.map((c) => `${sqlString(c.name)}: ${sqlString(readType(c))}`).join(', ');
      const sql =
        `SELECT ${outColumns.map(selectExpression).join(', ')} FROM read_json(${sqlString(path)}, ` +
        // DuckDB's default line limit (16 MiB) stays: raising it to maxRecordBytes made the read 1.7× slower
        // (measured), and a longer line is refused, so the exact parser reads that part.
        `format = 'newline_delimited', records = true, columns = {${columnTypes}})`;
      yield* duckdbOrExact({
        connection: await connect(),
        sql,
        batchRows: knobs.batchRows,
        suspicious: () => false,
        exactFrom: (skip) => exactFrom(storage, part, options, skip),
        ...(options.signal ? { signal: options.signal } : {}),
      });
    });
  }

  return { readPart, close };
}
