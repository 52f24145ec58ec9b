/**
 * npm run demo — the data plane of a job, end to end on local files with built-in defaults:
 * generate a dataset → plan chunks from Parquet footers → read every chunk into Arrow → write one output
 * part per chunk (passthrough key column) → manifest. Scoring and the queue pipeline join in later issues.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { RecordBatch } from 'apache-arrow';
import { planInput } from '../jobs/plan/plan-input.js';
import { makeFormatReaders } from '../services/formats/make-reader.js';
import { makeWriter } from '../services/formats/writers/make-writer.js';
import { makeFileStorage } from '../services/storage/file-storage.js';
import { cacheDir, tabularParquet } from './lib/datasets.js';

const ROWS = 1_000_000;
const started = performance.now();
const input = await tabularParquet(ROWS, 16);
const outputDir = join(cacheDir, 'demo', 'output', 'demo-job');
await rm(outputDir, { recursive: true, force: true });
await mkdir(outputDir, { recursive: true });

const storage = makeFileStorage();
const readers = makeFormatReaders();
const writer = makeWriter('parquet');
const chunks = await planInput(
  storage,
  { uri: pathToFileURL(input).href, format: 'parquet' },
  {
    chunkRows: 250_000,
    chunkBytes: 256 * 1024 * 1024,
  },
);
console.log(`planned ${chunks.length} chunks of ${input}`);

const parts: Array<{ uri: string; rows: number; bytes: number }> = [];
let rowsIn = 0;
for (const chunk of chunks) {
  const batches: RecordBatch[] = [];
  for (const part of chunk.parts) {
    for await (const batch of readers.readerFor(chunk.format).readPart(storage, part, { columns: ['id'] })) {
      batches.push(batch);
      rowsIn += batch.numRows;
    }
  }
  const name = `part-${String(chunk.index).padStart(5, '0')}${writer.extension}`;
  parts.push(await writer.write(storage, pathToFileURL(join(outputDir, name)).href, batches));
  const done = parts.length / chunks.length;
  process.stdout.write(
    `\r[${'#'.repeat(Math.round(done * 30)).padEnd(30)}] ${parts.length}/${chunks.length} chunks`,
  );
}
process.stdout.write('\n');

const rowsOut = parts.reduce((sum, p) => sum + p.rows, 0);
if (rowsIn !== ROWS || rowsOut !== ROWS)
  throw new Error(`rows in ${rowsIn}, out ${rowsOut}, expected ${ROWS}`);
await writeFile(join(outputDir, '_manifest.json'), JSON.stringify({ input, rows: rowsOut, parts }, null, 2));
const seconds = (performance.now() - started) / 1000;
console.log(`${rowsOut} rows → ${parts.length} parts in ${seconds.toFixed(1)} s: ${outputDir}`);

// Read the first part back as a reader of the output would.
const sample: unknown[] = [];
for await (const batch of readers
  .readerFor('parquet')
  .readPart(storage, { uri: parts[0]!.uri, size: parts[0]!.bytes, range: { kind: 'whole' } })) {
  sample.push(
    ...batch
      .toArray()
      .slice(0, 3)
      .map((row: { toJSON(): unknown }) => row.toJSON()),
  );
  break;
}
console.log('first rows:', sample.slice(0, 3));
await readers.close();
