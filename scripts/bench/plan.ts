/**
 * bench:plan — planning and enqueueing a 10,000-chunk job, and the Redis memory each pending chunk costs.
 * The input is one local Parquet file of 10,000 row groups (generated once into .cache/), planned at one
 * row group per chunk; chunks are enqueued on BullMQ under a private prefix, measured, then removed.
 *   npm run bench:plan [-- --chunks 10000]
 */
import { mkdir, rename, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { DuckDBInstance } from '@duckdb/node-api';
import { planInput } from '../../jobs/plan/plan-input.js';
import { makeFormatReaders } from '../../services/formats/make-reader.js';
import { chunkJobId, chunkPriority, makeQueues } from '../../services/queue/queues.js';
import { makeRedis, redisConfigFromEnv } from '../../services/queue/redis-connection.js';
import { makeFileStorage } from '../../services/storage/file-storage.js';
import { cacheDir } from '../lib/datasets.js';

const { values } = parseArgs({ options: { chunks: { type: 'string', default: '10000' } } });
const chunks = Number(values.chunks);
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
await readers.close();
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
  }),
);
