import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobViewSchema } from '../../schemas/job-record.js';
import { freePort } from '../../scripts/lib/demo-redis.js';
import { modelPath } from '../../scripts/lib/models.js';
import { makeRedis } from '../../services/queue/redis-connection.js';
import { makeFileStorage } from '../../services/storage/file-storage.js';
import { type ApiProcess, startApiProcess } from '../helpers/api-process.js';
import { monitoredMetricNames } from '../helpers/monitoring-files.js';
import { featureColumns, writeDataset } from '../helpers/pipeline.js';
import { type Scrape, parseScrape } from '../helpers/prometheus-scrape.js';
import { type WorkerFleet, makeWorkerFleet } from '../helpers/worker-processes.js';

const quiver = join(import.meta.dirname, '../../services/cli/quiver.js');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The body of `url`'s `/metrics`, retried until it answers (a worker's server starts after its Redis). */
async function scrape(url: string, timeoutMs = 15_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const response = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(5_000) });
      if (response.ok) return await response.text();
      await response.body?.cancel();
    } catch (error) {
      if (Date.now() > deadline) throw error;
    }
    if (Date.now() > deadline) throw new Error(`${url}/metrics did not answer 200`);
    await sleep(100);
  }
}

/** The family a selector `name` reads: itself, or the histogram or summary whose `_bucket`/`_sum`/`_count` it is. */
function familyOf(scrapes: Scrape, name: string) {
  const direct = scrapes.get(name);
  if (direct) return direct;
  const base = /^(.*)_(bucket|sum|count)$/.exec(name);
  const family = base ? scrapes.get(base[1]!) : undefined;
  if (!family) return undefined;
  if (base?.[2] === 'bucket') return family.type === 'HISTOGRAM' ? family : undefined;
  return family.type === 'HISTOGRAM' || family.type === 'SUMMARY' ? family : undefined;
}

describe('every series the alerts and the board read is served (real API, worker and scheduler)', () => {
  const prefix = `{test-monitoring-${randomUUID().slice(0, 8)}}`;
  const key = `key-${randomBytes(12).toString('hex')}`;
  let dir: string;
  let redis: Redis;
  let api: ApiProcess;
  let fleet: WorkerFleet;
  let scheduler: ChildProcess | undefined;
  let schedulerExited: Promise<void>;
  let workerPort: number;
  let schedulerPort: number;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'quiver-monitoring-'));
    const input = pathToFileURL(join(dir, 'data')).href + '/';
    await writeDataset(makeFileStorage(), input, [['events.parquet', 0, 4_000]]);
    const model = await modelPath('tabular-mlp');
    const tenants = join(dir, 'tenants.yaml');
    await writeFile(
      tenants,
      [
        'tenants:',
        '  acme:',
        `    keys: ["${key}"]`,
        '    storage:',
        `      read: ["${pathToFileURL(dirname(model)).href}/"]`,
        `      write: ["${pathToFileURL(dir).href}/"]`,
        '',
      ].join('\n'),
    );
    redis = makeRedis('redis://127.0.0.1:6379');
    const env = {
      QUIVER_REDIS_URL: 'redis://127.0.0.1:6379',
      QUIVER_PREFIX: prefix,
      QUIVER_TENANTS_FILE: tenants,
      QUIVER_MODEL_CACHE: join(dir, 'models'),
      QUIVER_TUNING_CACHE: join(dir, 'tuning.json'),
    };
    [workerPort, schedulerPort] = [await freePort(), await freePort()];
    api = await startApiProcess(env);
    fleet = makeWorkerFleet(env);
    const worker = fleet.start('worker', ['--devices', 'cpu'], { QUIVER_METRICS_PORT: String(workerPort) });
    scheduler = spawn(process.execPath, [quiver, 'scheduler', '--grace-seconds', '5'], {
      env: { ...process.env, ...env, QUIVER_METRICS_PORT: String(schedulerPort) },
      stdio: 'ignore',
    });
    schedulerExited = new Promise((resolve) => scheduler!.once('exit', () => resolve()));
    await worker.waitFor((e) => e.msg === 'worker started');

    // One small job through all of them, so the worker's series have seen a chunk.
    const submitted = await fetch(`${api.url}/v1/jobs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        name: 'monitoring-e2e',
        input: { uri: input, format: 'parquet' },
        model: {
          uri: pathToFileURL(model).href,
          inputs: { features: { columns: featureColumns } },
          outputs: { score: { column: 'score' } },
        },
        output: {
          uri: pathToFileURL(join(dir, 'scores')).href + '/',
          format: 'parquet',
          passthrough: ['id'],
        },
      }),
    });
    const body: unknown = await submitted.json();
    expect(submitted.status, JSON.stringify(body)).toBe(201);
    const jobId = jobViewSchema.parse(body).id;
    const deadline = Date.now() + 30_000;
    for (;;) {
      const polled = await fetch(`${api.url}/v1/jobs/${jobId}`, {
        headers: { authorization: `Bearer ${key}` },
      });
      const view = jobViewSchema.parse(await polled.json());
      if (view.status === 'succeeded') break;
      if (['failed', 'cancelled'].includes(view.status) || Date.now() > deadline)
        throw new Error(`job ended ${view.status}: ${JSON.stringify(view)}`);
      await sleep(200);
    }
  }, 60_000);

  afterAll(async () => {
    if (scheduler && scheduler.exitCode === null && scheduler.signalCode === null) {
      scheduler.kill('SIGKILL');
      await schedulerExited;
    }
    await fleet?.killAll();
    await api?.stop();
    if (redis) {
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length > 0) await redis.del(...keys);
      redis.disconnect();
    }
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('finds every metric named in alerts.yaml and quiver.json in the scrapes of the three processes', async () => {
    const bodies = await Promise.all([
      scrape(api.url),
      scrape(`http://127.0.0.1:${workerPort}`),
      scrape(`http://127.0.0.1:${schedulerPort}`),
    ]);
    const scrapes: Scrape = new Map(bodies.flatMap((body) => [...parseScrape(body)]));
    // The job went through: the series are real ones, not a scrape of something else.
    expect(scrapes.get('quiver_rows_scored_total')?.metrics[0]?.value).toBe('4000');

    const referenced = monitoredMetricNames();
    expect(referenced.size).toBeGreaterThan(15);
    const missing = [...referenced]
      .filter(([name]) => familyOf(scrapes, name) === undefined)
      .map(([name, where]) => `${name} (${[...new Set(where)].join(', ')})`);
    expect(missing, 'read by the alerts or the board, served by no process').toEqual([]);
  });
});
