/**
 * bench:plan — planning and enqueueing a 10,000-chunk job, and the Redis memory each pending chunk costs.
 * The input is one local Parquet file of 10,000 row groups (generated once into .cache/), planned at one
 * row group per chunk; chunks are enqueued on BullMQ under a private prefix, measured, then removed.
 * Then `timeToFirstChunkSeconds`: how long streaming planning takes to queue the first chunk of one CSV
 * object of `--csv-gib` GiB (default 10), a valid CSV (header, then one block of id + 64 float rows
 * repeated) served from memory by a storage that makes each ranged read on the fly, so no 10 GB file is
 * needed; the planner scans it exactly as it would a stored one.
 *   npm run bench:plan [-- --chunks 10000 --csv-gib 10]
 */
import { mkdir, rename, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { DuckDBInstance } from '@duckdb/node-api';
import { planInput, streamInput } from '../../jobs/plan/plan-input.js';
import type { ByteRange, ObjectInfo, Storage } from '../../jobs/ports/storage.js';
import { makeFormatReaders } from '../../services/formats/make-reader.js';
import { chunkJobId, chunkPriority, makeQueues } from '../../services/queue/queues.js';
import { makeRedis, redisConfigFromEnv } from '../../services/queue/redis-connection.js';
import { makeFileStorage } from '../../services/storage/file-storage.js';
import { cacheDir } from '../lib/datasets.js';

const { values } = parseArgs({
  options: { chunks: { type: 'string', default: '10000' }, 'csv-gib': { type: 'string', default: '10' } },
});
const chunks = Number(values.chunks);
const csvBytes = Math.round(Number(values['csv-gib']) * 2 ** 30);
const rowGroupRows = 2_048; // DuckDB's smallest row group

async function manyRowGroups(): Promise<string> {
  const path = join(cacheDir, 'datasets', `row-groups-${chunks}.parquet`);
  if (
    await stat(path).then(
      () => true,
      () => false,
    )
  )
    return path;
  await mkdir(dirname(path), { recursive: true });
  const duck = await DuckDBInstance.create(':memory:');
  const connection = await duck.connect();
  await connection.run(
    `COPY (SELECT range::BIGINT AS id, (range % 97)::FLOAT AS f0 FROM range(${chunks * rowGroupRows})) TO '${path}.partial' (FORMAT parquet, ROW_GROUP_SIZE ${rowGroupRows})`,
  );
  connection.closeSync();
  duck.closeSync();
  await rename(`${path}.partial`, path);
  return path;
}

const path = await manyRowGroups();
const storage = makeFileStorage();
const readers = makeFormatReaders();
let started = performance.now();
const planned = await planInput(
  storage,
  readers,
  { uri: pathToFileURL(path).href, format: 'parquet' },
  { chunkRows: rowGroupRows, chunkBytes: 1 << 30 },
);
const planSeconds = (performance.now() - started) / 1000;

const { url } = redisConfigFromEnv();
const redis = makeRedis(url);
const prefix = `{bench-plan-${process.pid}}`;
const queues = makeQueues(redis, prefix);
const jobId = 'bench';
const before = Number(/used_memory:(\d+)/.exec(await redis.info('memory'))![1]);
started = performance.now();
for (let i = 0; i < planned.length; i += 1_000) {
  await queues.score.addBulk(
    planned.slice(i, i + 1_000).map((chunk) => ({
      name: 'score',
      data: { jobId, chunk },
      opts: { jobId: chunkJobId(jobId, chunk.index), priority: chunkPriority(5, chunk.index) },
    })),
  );
}
const enqueueSeconds = (performance.now() - started) / 1000;
const after = Number(/used_memory:(\d+)/.exec(await redis.info('memory'))![1]);
const sample =
  (await redis.memory('USAGE', `${prefix}:score:${chunkJobId(jobId, Math.floor(planned.length / 2))}`)) ?? 0;
const descriptorBytes = JSON.stringify(planned[Math.floor(planned.length / 2)]).length;

const csv = repeatedCsv(csvBytes);
started = performance.now();
let timeToFirstChunkSeconds = Number.NaN;
let firstChunkBytes = 0;
for await (const batch of streamInput(
  csv.storage,
  readers,
  { uri: csv.uri, format: 'csv' },
  { chunkRows: 500_000, chunkBytes: 256 * 1024 * 1024 },
)) {
  await queues.score.addBulk(
    batch.map((chunk) => ({
      name: 'score',
      data: { jobId: 'bench-csv', chunk },
      opts: { jobId: chunkJobId('bench-csv', chunk.index), priority: chunkPriority(5, chunk.index) },
    })),
  );
  timeToFirstChunkSeconds = (performance.now() - started) / 1000;
  firstChunkBytes = batch[0]!.bytes;
  break; // stops the scan: only the first chunk is measured
}
await readers.close();
await queues.score.obliterate({ force: true });
await queues.close();
redis.disconnect();

console.log(
  JSON.stringify({
    bench: 'plan',
    chunks: planned.length,
    planSeconds: Number(planSeconds.toFixed(3)),
    enqueueSeconds: Number(enqueueSeconds.toFixed(3)),
    totalSeconds: Number((planSeconds + enqueueSeconds).toFixed(3)),
    redisBytesPerPendingChunk: Math.round((after - before) / planned.length),
    jobHashBytes: sample,
    descriptorBytes,
    csvBytes,
    timeToFirstChunkSeconds: Number(timeToFirstChunkSeconds.toFixed(3)),
    firstChunkBytes,
  }),
);

/**
 * A CSV object of about `size` bytes held as one header and one block of whole rows repeated (cut at a
 * row end), with reads made on the fly: a large valid object that costs no disk.
 */
function repeatedCsv(size: number): { uri: string; storage: Storage } {
  const header = `id,${Array.from({ length: 64 }, (_, i) => `f${i}`).join(',')}\n`;
  const rows = Array.from(
    { length: 4_096 },
    (_, r) =>
      `${r},${Array.from({ length: 64 }, (_, j) => (((r * 7 + j) % 101) / 101).toFixed(6)).join(',')}\n`,
  ).join('');
  const head = new TextEncoder().encode(header);
  const block = new TextEncoder().encode(rows);
  const blocks = Math.max(1, Math.floor((size - head.length) / block.length));
  const object: ObjectInfo = {
    uri: 'mem://bench/big.csv',
    size: head.length + blocks * block.length,
    etag: '"1"',
    lastModified: new Date(),
  };
  const byteAt = (into: Uint8Array, from: number): void => {
    let at = 0;
    let offset = from;
    if (offset < head.length) {
      const n = Math.min(head.length - offset, into.length);
      into.set(head.subarray(offset, offset + n), 0);
      at = n;
      offset += n;
    }
    while (at < into.length) {
      const inBlock = (offset - head.length) % block.length;
      const n = Math.min(block.length - inBlock, into.length - at);
      into.set(block.subarray(inBlock, inBlock + n), at);
      at += n;
      offset += n;
    }
  };
  const unsupported = (): never => {
    throw new Error('repeatedCsv is read-only');
  };
  const storage: Storage = {
    list: () =>
      (async function* () {
        yield await Promise.resolve(object);
      })(),
    stat: () => Promise.resolve(object),
    read(_uri: string, range?: ByteRange) {
      const start = range?.start ?? 0;
      const end = Math.min(object.size, range?.end ?? object.size);
      const bytes = new Uint8Array(end - start);
      byteAt(bytes, start);
      // A stored object's read is I/O: it yields to the event loop, so does this one.
      return new Promise((resolve) => setImmediate(() => resolve(bytes)));
    },
    write: unsupported,
    delete: unsupported,
  } as unknown as Storage;
  return { uri: object.uri, storage };
}
