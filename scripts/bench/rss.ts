/**
 * bench:rss — a worker process's peak memory (VmHWM) scoring 1,000,000 rows and 10,000,000 rows of the
 * same shape (int64 id + 64 float32, tabular MLP) over local files: memory in flight is bounded by chunks,
 * so it should not grow with the dataset. Each size runs in a fresh `quiver worker` process. One JSON line.
 *   npm run bench:rss [-- --small 1000000 --large 10000000]
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { submitJob } from '../../jobs/submit-job.js';
import { makeRedisJobStore } from '../../services/queue/job-store.js';
import { makeQueues } from '../../services/queue/queues.js';
import { makeRedis } from '../../services/queue/redis-connection.js';
import { tabularParquet } from '../lib/datasets.js';
import { demoRedis } from '../lib/demo-redis.js';
import { modelPath } from '../lib/models.js';

const { values } = parseArgs({
  options: { small: { type: 'string', default: '1000000' }, large: { type: 'string', default: '10000000' } },
});
const work = await mkdtemp(join(tmpdir(), 'quiver-bench-rss-'));
const redisInfo = await demoRedis();
const redis = makeRedis(redisInfo.url);
const model = await modelPath('tabular-mlp');

async function peakRss(rows: number): Promise<{ rows: number; peakRssBytes: number; seconds: number }> {
  const dataset = await tabularParquet(rows, 64);
  const prefix = `{bench-rss-${process.pid}-${rows}}`;
  const worker = spawn(
    process.execPath,
    [join(import.meta.dirname, '../../services/cli/quiver.js'), 'worker'],
    {
      env: {
        ...process.env,
        QUIVER_REDIS_URL: redisInfo.url,
        QUIVER_PREFIX: prefix,
        QUIVER_MODEL_CACHE: join(work, 'models'),
        QUIVER_TUNING_CACHE: join(work, 'tuning.json'),
      },
      stdio: 'ignore',
    },
  );
  let peak = 0;
  const sample = setInterval(() => {
    void readFile(`/proc/${worker.pid}/status`, 'utf8').then(
      (status) => {
        const hwm = /VmHWM:\s+(\d+) kB/.exec(status);
        if (hwm) peak = Math.max(peak, Number(hwm[1]) * 1024);
      },
      () => undefined,
    );
  }, 100);
  const store = makeRedisJobStore(redis, prefix);
  const queues = makeQueues(redis, prefix);
  try {
    const started = performance.now();
    const { record } = await submitJob(
      { store, queue: queues },
      {
        input: { uri: pathToFileURL(dataset).href, format: 'parquet' },
        model: { uri: pathToFileURL(model).href },
        output: { uri: pathToFileURL(join(work, 'out')).href, passthrough: ['id'] },
        batch: { rows: 'auto', chunkRows: 250_000 },
      },
    );
    for (;;) {
      const job = (await store.get(record.id))!;
      if (job.status === 'succeeded') break;
      if (job.status === 'failed') throw new Error(JSON.stringify(job.error));
      await new Promise((r) => setTimeout(r, 100));
    }
    return { rows, peakRssBytes: peak, seconds: (performance.now() - started) / 1000 };
  } finally {
    clearInterval(sample);
    worker.kill('SIGTERM');
    await new Promise((r) => worker.once('exit', r));
    await queues.close();
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
  }
}

try {
  const small = await peakRss(Number(values.small));
  const large = await peakRss(Number(values.large));
  console.log(
    JSON.stringify({
      bench: 'rss',
      smallRows: small.rows,
      smallPeakRssMiB: Math.round(small.peakRssBytes / 2 ** 20),
      smallRowsPerSec: Math.round(small.rows / small.seconds),
      largeRows: large.rows,
      largePeakRssMiB: Math.round(large.peakRssBytes / 2 ** 20),
      largeRowsPerSec: Math.round(large.rows / large.seconds),
      ratio: Number((large.peakRssBytes / small.peakRssBytes).toFixed(3)),
    }),
  );
} finally {
  redis.disconnect();
  await redisInfo.stop();
  await rm(work, { recursive: true, force: true });
}
