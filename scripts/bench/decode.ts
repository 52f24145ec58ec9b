/**
 * bench:decode — each input format (Parquet, CSV, JSONL, Arrow IPC) read into Arrow record batches through
 * Quiver's reader, against DuckDB's native scan of the same file in the same run: `SELECT count(*),
 * sum(f0), …, sum(f63)` over read_parquet / read_csv / read_json, which parses every column inside DuckDB
 * (the decode limit; Arrow IPC is compared with the Parquet scan, DuckDB having no Arrow reader built in).
 * Rates are rows per CPU-second of this process (all threads: DuckDB's included), the median of `runs`
 * alternating rounds, since wall-clock time on a shared machine moves by ±40%. One JSON line per format.
 *   npm run bench:decode [-- --rows 500000 --runs 3 --formats parquet,csv,jsonl,arrow]
 */
import { stat, writeFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { DuckDBInstance } from '@duckdb/node-api';
import { RecordBatchFileWriter } from 'apache-arrow';
import type { InputFormat } from '../../schemas/chunk-descriptor.js';
import { makeFormatReaders } from '../../services/formats/make-reader.js';
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
  // Warm both paths once (page cache, JIT), then alternate so drift on a shared machine hits both alike.
  await ours();
  await duckdbScan();
  const oursRates: number[] = [];
  const duckRates: number[] = [];
  const ratios: number[] = [];
  for (let i = 0; i < runs; i++) {
    oursRates.push(await rate(ours));
    duckRates.push(await rate(duckdbScan));
    ratios.push(oursRates.at(-1)! / duckRates.at(-1)!);
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
      unit: 'rows per CPU-second',
    }),
  );
}
await readers.close();
connection.closeSync();
duck.closeSync();
