/**
 * bench:decode — Parquet → Arrow record batches through Quiver's decode path, against a plain DuckDB scan
 * of the same file in the same run. Prints one JSON line.
 *   npm run bench:decode [-- --rows 1000000 --runs 3]
 */
import { stat } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { DuckDBInstance } from '@duckdb/node-api';
import { makeParquetReader } from '../../services/formats/parquet/parquet-reader.js';
import { makeFileStorage } from '../../services/storage/file-storage.js';
import { tabularParquet } from '../lib/datasets.js';
import { median } from '../lib/score-bench.js';

const { values } = parseArgs({
  options: { rows: { type: 'string', default: '1000000' }, runs: { type: 'string', default: '3' } },
});
const rows = Number(values.rows);
const runs = Number(values.runs);

async function timeRun(run: () => Promise<number>): Promise<number> {
  const started = performance.now();
  const seen = await run();
  const seconds = (performance.now() - started) / 1000;
  if (seen !== rows) throw new Error(`read ${seen} rows, expected ${rows}`);
  return seen / seconds;
}

const path = await tabularParquet(rows);
const { size } = await stat(path);
const storage = makeFileStorage();
const reader = makeParquetReader();
const duck = await DuckDBInstance.create(':memory:');
const connection = await duck.connect();

const ours = async (): Promise<number> => {
  let seen = 0;
  for await (const batch of reader.readPart(storage, {
    uri: pathToFileURL(path).href,
    size,
    range: { kind: 'whole' },
  })) {
    seen += batch.numRows;
  }
  return seen;
};
const duckdbScan = async (): Promise<number> => {
  const result = await connection.stream(`SELECT * FROM read_parquet('${path}')`);
  let seen = 0;
  for (;;) {
    const chunk = await result.fetchChunk();
    if (!chunk || chunk.rowCount === 0) break;
    seen += chunk.rowCount;
  }
  return seen;
};

// Warm both paths once (page cache, JIT), then alternate so drift on a shared machine hits both alike.
await ours();
await duckdbScan();
const oursRates: number[] = [];
const duckRates: number[] = [];
for (let i = 0; i < runs; i++) {
  oursRates.push(await timeRun(ours));
  duckRates.push(await timeRun(duckdbScan));
}
await reader.close();
connection.closeSync();
duck.closeSync();

const rowsPerSec = median(oursRates);
const duckdbRowsPerSec = median(duckRates);
console.log(
  JSON.stringify({
    bench: 'decode',
    rows,
    columns: 65,
    fileBytes: size,
    path: 'duckdb-parquet→arrow',
    rowsPerSec: Math.round(rowsPerSec),
    duckdbRowsPerSec: Math.round(duckdbRowsPerSec),
    ratio: Number((rowsPerSec / duckdbRowsPerSec).toFixed(3)),
  }),
);
