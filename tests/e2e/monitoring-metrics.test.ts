import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
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
import { type Scrape, parseScrape, sampleValue } from '../helpers/prometheus-scrape.js';
import { type WorkerFleet, makeWorkerFleet } from '../helpers/worker-processes.js';
import { writeTenantsFile } from '../helpers/tenants-file.js';

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

describe('/metrics of a real API, worker and scheduler, during and after a real job', () => {
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
  let jobSpec: unknown;
  let scrapesAfter: Scrape;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'quiver-monitoring-'));
    const input = pathToFileURL(join(dir, 'data')).href + '/';
    await writeDataset(makeFileStorage(), input, [['events.parquet', 0, 4_000]]);
    const model = await modelPath('tabular-mlp');
    const tenants = join(dir, 'tenants.yaml');
    await writeTenantsFile(tenants, {
      acme: {
        keys: [key],
        read: [`${pathToFileURL(dirname(model)).href}/`],
        write: [`${pathToFileURL(dir).href}/`],
      },
    });
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
    scheduler = spawn(process.execPath, [quiver, 'scheduler', '--grace-seconds', '5'], {
      env: { ...process.env, ...env, QUIVER_METRICS_PORT: String(schedulerPort) },
      stdio: 'ignore',
    });
    schedulerExited = new Promise((resolve) => scheduler!.once('exit', () => resolve()));
    jobSpec = {
      name: 'monitoring-e2e',
      input: { uri: input, format: 'parquet' },
      model: {
        uri: pathToFileURL(model).href,
        inputs: { features: { columns: featureColumns } },
        outputs: { score: { column: 'score' } },
      },
      output: { uri: pathToFileURL(join(dir, 'scores')).href + '/', format: 'parquet', passthrough: ['id'] },
      // Chunks of whole row groups (2,048 rows each): 2.
      batch: { rows: 512, chunkRows: 1_000 },
    };
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

  const auth = () => ({ authorization: `Bearer ${key}` });
  const scrapeAll = async (): Promise<{ api: Scrape; scheduler: Scrape; worker?: Scrape }> => {
    const [a, b] = await Promise.all([scrape(api.url), scrape(`http://127.0.0.1:${schedulerPort}`)]);
    return { api: parseScrape(a), scheduler: parseScrape(b) };
  };

  it('sees a job waiting for a pool scaled to zero from the API and the scheduler, then every series move by exactly the job', async () => {
    const before = await scrapeAll();
    const submitted = await fetch(`${api.url}/v1/jobs`, {
      method: 'POST',
      headers: { ...auth(), 'content-type': 'application/json' },
      body: JSON.stringify(jobSpec),
    });
    const body: unknown = await submitted.json();
    expect(submitted.status, JSON.stringify(body)).toBe(201);
    const jobId = jobViewSchema.parse(body).id;

    // During: no worker runs. The API and the scheduler both show the queued job and its waiting plan step.
    await sleep(300);
    const during = await scrapeAll();
    for (const [process, seen] of Object.entries(during)) {
      const moved = (name: string, labels: Record<string, string> = {}) =>
        sampleValue(seen, name, labels) - sampleValue(before[process as 'api'], name, labels);
      expect(moved('quiver_jobs', { status: 'queued' }), process).toBe(1);
      const planBacklog = ['waiting', 'prioritized', 'delayed', 'active'].reduce(
        (n, state) => n + sampleValue(seen, 'quiver_queue_jobs', { queue: 'plan', state }),
        0,
      );
      expect(planBacklog, process).toBe(1);
      expect(
        sampleValue(seen, 'quiver_queue_oldest_waiting_seconds', { queue: 'plan' }),
        process,
      ).toBeGreaterThan(0.2);
    }

    // The pool comes up and runs the job.
    const worker = fleet.start('worker', ['--devices', 'cpu'], { QUIVER_METRICS_PORT: String(workerPort) });
    await worker.waitFor((e) => e.msg === 'worker started');
    const deadline = Date.now() + 30_000;
    let view;
    for (;;) {
      const polled = await fetch(`${api.url}/v1/jobs/${jobId}?waitSeconds=2`, { headers: auth() });
      view = jobViewSchema.parse(await polled.json());
      if (view.status === 'succeeded') break;
      if (['failed', 'cancelled'].includes(view.status) || Date.now() > deadline)
        throw new Error(`job ended ${view.status}: ${JSON.stringify(view)}`);
    }
    const chunks = view.progress.chunksTotal;
    expect(chunks).toBeGreaterThan(1);

    // After: the worker's counters moved by exactly the job's rows and chunks (a fresh process: from 0).
    const after = await scrapeAll();
    const workerScrape = parseScrape(await scrape(`http://127.0.0.1:${workerPort}`));
    expect(sampleValue(workerScrape, 'quiver_rows_scored_total')).toBe(4_000);
    expect(sampleValue(workerScrape, 'quiver_rows_rejected_total')).toBe(0);
    expect(sampleValue(workerScrape, 'quiver_chunks_total', { outcome: 'committed' })).toBe(chunks);
    for (const outcome of ['retried', 'failed', 'superseded'])
      expect(sampleValue(workerScrape, 'quiver_chunks_total', { outcome })).toBe(0);
    expect(sampleValue(workerScrape, 'quiver_chunk_duration_seconds')).toBe(chunks);
    for (const stage of ['read', 'decode', 'map', 'infer', 'write', 'commit'])
      expect(sampleValue(workerScrape, 'quiver_stage_seconds_total', { stage }), stage).toBeGreaterThan(0);
    const usage = view.usage!;
    expect(sampleValue(workerScrape, 'quiver_storage_bytes_total', { direction: 'read' })).toBe(
      usage.bytesRead,
    );
    expect(sampleValue(workerScrape, 'quiver_storage_bytes_total', { direction: 'written' })).toBe(
      usage.bytesWritten,
    );
    expect(usage.bytesWritten).toBeGreaterThan(0);
    expect(workerScrape.get('quiver_batch_rows')?.type).toBe('HISTOGRAM');
    const busy = sampleValue(workerScrape, 'quiver_device_busy_ratio', { device: 'cpu' });
    expect(busy).toBeGreaterThan(0);
    expect(busy).toBeLessThanOrEqual(1);
    // The API and the scheduler agree: one more job succeeded, none queued or running.
    for (const [process, seen] of Object.entries(after)) {
      const moved = (name: string, labels: Record<string, string> = {}) =>
        sampleValue(seen, name, labels) - sampleValue(before[process as 'api'], name, labels);
      expect(moved('quiver_jobs_finished_total', { outcome: 'succeeded' }), process).toBe(1);
      expect(moved('quiver_jobs', { status: 'succeeded' }), process).toBe(1);
      for (const status of ['queued', 'running']) expect(moved('quiver_jobs', { status }), process).toBe(0);
      expect(sampleValue(seen, 'quiver_jobs_stalled'), process).toBe(0);
    }
    scrapesAfter = new Map([...after.api, ...after.scheduler, ...workerScrape]);
  }, 60_000);

  it('finds every metric named in alerts.yaml and quiver.json in the scrapes of the three processes', () => {
    const scrapes = scrapesAfter;
    expect(scrapes.get('quiver_rows_scored_total')?.metrics[0]?.value).toBe('4000');

    const referenced = monitoredMetricNames();
    expect(referenced.size).toBeGreaterThan(15);
    const missing = [...referenced]
      .filter(([name]) => familyOf(scrapes, name) === undefined)
      .map(([name, where]) => `${name} (${[...new Set(where)].join(', ')})`);
    expect(missing, 'read by the alerts or the board, served by no process').toEqual([]);
  });
});
