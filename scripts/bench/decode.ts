/**
 * bench:decode — each input format (Parquet, CSV, JSONL, Arrow IPC) read into Arrow record batches through
 * Quiver's reader, against DuckDB's native scan of the same file in the same run: `SELECT count(*),
 * sum(f0), …, sum(f63)` over read_parquet / read_csv / read_json, which parses every column inside DuckDB
 * (the decode limit; Arrow IPC is compared with the Parquet scan, DuckDB having no Arrow reader built in).
 * Rates are rows per CPU-second of this process (all threads: DuckDB's included), the median of `runs`
 * alternating rounds, since wall-clock time on a shared machine moves by ±40%. One JSON line per format.
 * The Parquet line adds `resultOnlyRatio`: DuckDB's streamed result copied into JavaScript with nothing
 * built from it, against the same native scan — the most a reader on @duckdb/node-api can reach.
 *   npm run bench:decode [-- --rows 500000 --runs 3 --formats parquet,csv,jsonl,arrow]
 */
import { stat, writeFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import duckdbBindings from '@duckdb/node-bindings';
import { DuckDBInstance, type DuckDBTypeId } from '@duckdb/node-api';
import { RecordBatchFileWriter } from 'apache-arrow';
import type { InputFormat } from '../../schemas/chunk-descriptor.js';
import { makeFormatReaders } from '../../services/formats/make-reader.js';
import { fixedByteWidth } from '../../services/formats/parquet/duckdb-to-arrow.js';
import { makeFileStorage } from '../../services/storage/file-storage.js';
import { ownCpuSeconds } from '../lib/cpu-time.js';
import { tabularAs, tabularParquet } from '../lib/datasets.js';
import { median } from '../lib/score-bench.js';

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '500000' },
    runs: { type: 'string', default: '3' },
    formats: { type: 'string', default: 'parquet,csv,jsonl,arrow' },
  },
});
const rows = Number(values.rows);
const runs = Number(values.runs);
const formats = values.formats.split(',') as InputFormat[];
const features = 64;

const storage = makeFileStorage();
const readers = makeFormatReaders();
const duck = await DuckDBInstance.create(':memory:');
const connection = await duck.connect();
// As the Parquet reader sets it (its default read-ahead), for the result-only pass below.
await connection.run(`SET streaming_buffer_size = '32768KiB'`);

async function arrowFile(): Promise<string> {
  const path = (await tabularParquet(rows, features)).replace(/\.parquet$/, '.arrow');
  if (await stat(path).catch(() => undefined)) return path;
  const parquet = await tabularParquet(rows, features);
  const { size } = await stat(parquet);
  const batches = [];
  for await (const b of readers
    .readerFor('parquet')
    .readPart(storage, { uri: pathToFileURL(parquet).href, size, range: { kind: 'whole' } }))
    batches.push(b);
  await writeFile(path, RecordBatchFileWriter.writeAll(batches).toUint8Array(true));
  return path;
}

async function fileOf(format: InputFormat): Promise<string> {
  if (format === 'parquet') return tabularParquet(rows, features);
  if (format === 'arrow') return arrowFile();
  return tabularAs(format, rows, features);
}

const sums = Array.from({ length: features }, (_, i) => `sum(f${i})`).join(', ');
const explicitColumns = `{'id': 'BIGINT', ${Array.from({ length: features }, (_, i) => `'f${i}': 'FLOAT'`).join(', ')}}`;
function nativeScan(format: InputFormat, path: string): string {
  switch (format) {
    case 'csv':
      return `read_csv('${path}', header = true, columns = ${explicitColumns})`;
    case 'jsonl':
      return `read_json('${path}', format = 'newline_delimited', columns = ${explicitColumns})`;
    default:
      return `read_parquet('${path}')`;
  }
}

/** Bytes per value as the Parquet reader copies the column (the bench's: BIGINT id, FLOAT features). */
function byteWidth(type: DuckDBTypeId): number {
  const width = fixedByteWidth(type);
  if (width === undefined) throw new Error(`bench:decode: DuckDB type ${type} is not fixed-width`);
  return width;
}

/** Rows per CPU-second of `run`, which returns the rows it saw. */
async function rate(run: () => Promise<number>): Promise<number> {
  const from = process.cpuUsage();
  const seen = await run();
  const seconds = ownCpuSeconds(from);
  if (seen !== rows) throw new Error(`read ${seen} rows, expected ${rows}`);
  return seen / seconds;
}

for (const format of formats) {
  const path = await fileOf(format);
  const { size } = await stat(path);
  const reference = format === 'arrow' ? await tabularParquet(rows, features) : path;
  const schema = Object.fromEntries(
    Array.from({ length: features }, (_, i) => [`f${i}`, 'float32' as const]),
  );
  const ours = async (): Promise<number> => {
    let seen = 0;
    const range =
      format === 'parquet' || format === 'arrow'
        ? { kind: 'whole' as const }
        : { kind: 'bytes' as const, start: 0, end: size };
    for await (const batch of readers
      .readerFor(format)
      .readPart(
        storage,
        { uri: pathToFileURL(path).href, size, range },
        format === 'csv' || format === 'jsonl' ? { schema } : {},
      ))
      seen += batch.numRows;
    return seen;
  };
  const duckdbScan = async (): Promise<number> => {
    const result = await connection.runAndReadAll(
      `SELECT count(*), ${sums} FROM ${nativeScan(format, reference)}`,
    );
    return Number(result.getRows()[0]![0]);
  };
  // Parquet only: every row streamed out of DuckDB's result API and each vector's bytes copied into
  // JavaScript (`vector_get_data`, as the reader does), with no Arrow built: what any reader on
  // @duckdb/node-api can reach, the ceiling of Quiver's Parquet path.
  const resultOnly = async (): Promise<number> => {
    const result = await connection.stream(`SELECT * FROM read_parquet('${path}')`);
    const widths = result.columnTypes().map((type) => byteWidth(type.typeId));
    let seen = 0;
    for (;;) {
      const chunk = await result.fetchChunk();
      if (!chunk || chunk.rowCount === 0) break;
      widths.forEach((width, column) => {
        const vector = duckdbBindings.data_chunk_get_vector(chunk.chunk, column);
        duckdbBindings.vector_get_data(vector, chunk.rowCount * width);
      });
      seen += chunk.rowCount;
    }
    return seen;
  };
  const withCeiling = format === 'parquet';
  // Warm the paths once (page cache, JIT), then alternate so drift on a shared machine hits them alike.
  await ours();
  await duckdbScan();
  if (withCeiling) await resultOnly();
  const oursRates: number[] = [];
  const duckRates: number[] = [];
  const ratios: number[] = [];
  const ceilingRatios: number[] = [];
  for (let i = 0; i < runs; i++) {
    oursRates.push(await rate(ours));
    duckRates.push(await rate(duckdbScan));
    ratios.push(oursRates.at(-1)! / duckRates.at(-1)!);
    if (withCeiling) ceilingRatios.push((await rate(resultOnly)) / duckRates.at(-1)!);
  }
  console.log(
    JSON.stringify({
      bench: 'decode',
      format,
      rows,
      columns: features + 1,
      fileBytes: size,
      rowsPerSec: Math.round(median(oursRates)),
      duckdbRowsPerSec: Math.round(median(duckRates)),
      ratio: Number(median(ratios).toFixed(3)),
      roundRatios: ratios.map((r) => Number(r.toFixed(3))),
      ...(withCeiling && {
        resultOnlyRatio: Number(median(ceilingRatios).toFixed(3)),
        roundResultOnlyRatios: ceilingRatios.map((r) => Number(r.toFixed(3))),
      }),
      unit: 'rows per CPU-second',
    }),
  );
}
await readers.close();
connection.closeSync();
duck.closeSync();
