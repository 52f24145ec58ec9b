import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Redis } from 'ioredis';
import { type Browser, type BrowserContext, type Page, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobViewSchema } from '../../schemas/job-record.js';
import { cacheDir } from '../../scripts/lib/datasets.js';
import { modelPath } from '../../scripts/lib/models.js';
import { makeRedis } from '../../services/queue/redis-connection.js';
import { makeFileStorage } from '../../services/storage/file-storage.js';
import { type ApiProcess, startApiProcess } from '../helpers/api-process.js';
import { featureColumns, writeDataset } from '../helpers/pipeline.js';
import { type WorkerFleet, makeWorkerFleet } from '../helpers/worker-processes.js';
import { writeTenantsFile } from '../helpers/tenants-file.js';

/** Debian's package; `.ci/run` installs it when missing. */
const CHROMIUM = process.env.QUIVER_TEST_CHROMIUM ?? '/usr/bin/chromium';
const SCREENSHOTS = join(cacheDir, 'screenshots');
/** One small file per chunk (the planner groups small files up to `chunkRows`, and two exceed it). */
const FILE_ROWS = 600;
const CHUNK_ROWS = 1_000;
const CHUNKS = 36;

describe('the dashboard at /ui in Chromium (real API, worker and Redis)', () => {
  let dir: string;
  let redis: Redis;
  let api: ApiProcess;
  let fleet: WorkerFleet;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  let jobId: string;
  const tenantKey = `tenant-${randomBytes(12).toString('hex')}`;
  const adminKey = `admin-${randomBytes(12).toString('hex')}`;
  const prefix = `{test-${randomUUID().slice(0, 8)}}`;

  async function openPage(): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    contexts.push(context);
    return context.newPage();
  }

  async function signIn(page: Page, key: string): Promise<void> {
    await page.goto(`${api.url}/ui`);
    await page.fill('#api-key', key);
    await page.click('#signin-form button[type=submit]');
    await page.waitForSelector('#top:not([hidden])');
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'quiver-dashboard-'));
    const input = pathToFileURL(join(dir, 'data')).href + '/';
    const files = Array.from({ length: CHUNKS }, (_, i): [string, number, number] => [
      `events-${String(i).padStart(2, '0')}.parquet`,
      i * FILE_ROWS,
      FILE_ROWS,
    ]);
    await writeDataset(makeFileStorage(), input, files);
    // Seconds per chunk on a small machine: slow enough to watch the progress move.
    const model = await modelPath('compute-heavy');
    redis = makeRedis('redis://127.0.0.1:6379');
    const tenants = join(dir, 'tenants.yaml');
    const grants = {
      read: [`${pathToFileURL(dirname(model)).href}/`, `${pathToFileURL(dir).href}/`],
      write: [`${pathToFileURL(dir).href}/`],
    };
    await writeTenantsFile(tenants, {
      acme: { keys: [tenantKey], ...grants },
      ops: { keys: [adminKey], admin: true, ...grants },
    });
    const env = {
      QUIVER_REDIS_URL: 'redis://127.0.0.1:6379',
      QUIVER_PREFIX: prefix,
      QUIVER_TENANTS_FILE: tenants,
      QUIVER_MODEL_CACHE: join(dir, 'models'),
      QUIVER_TUNING_CACHE: join(dir, 'tuning.json'),
      QUIVER_METRICS_PORT: 'off',
    };
    [api, browser] = await Promise.all([
      startApiProcess(env),
      chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] }),
    ]);
    fleet = makeWorkerFleet(env);
    await fleet.start('worker').waitFor((e) => e.msg === 'worker started');

    const response = await fetch(`${api.url}/v1/jobs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tenantKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        name: 'dashboard-e2e',
        labels: { suite: 'dashboard' },
        input: { uri: input, format: 'parquet' },
        model: { uri: pathToFileURL(model).href, inputs: { features: { columns: featureColumns } } },
        output: { uri: pathToFileURL(join(dir, 'scores')).href + '/', passthrough: ['id'] },
        batch: { rows: 1024, chunkRows: CHUNK_ROWS },
      }),
    });
    expect(response.status).toBe(201);
    jobId = jobViewSchema.parse(await response.json()).id;
    await mkdir(SCREENSHOTS, { recursive: true });
  }, 60_000);

  afterAll(async () => {
    await Promise.allSettled(contexts.map((context) => context.close()));
    await browser?.close();
    await fleet?.killAll();
    await api?.stop();
    if (redis) {
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length > 0) await redis.del(...keys);
      redis.disconnect();
    }
    await rm(dir, { recursive: true, force: true });
  });

  it('without a key shows only the sign-in form; the page’s calls get 401; a wrong key is told so', async () => {
    const page = await openPage();
    const shell = await page.goto(`${api.url}/ui`);
    expect(shell?.url()).toBe(`${api.url}/ui/`);
    expect(shell?.headers()['content-security-policy']).toContain("script-src 'self'");
    await page.waitForSelector('#signin:not([hidden])');
    expect(await page.isHidden('#top')).toBe(true);
    expect(await page.isHidden('#main')).toBe(true);
    expect(await page.locator('#main').innerHTML()).toBe('');
    const statuses = await page.evaluate(() =>
      Promise.all(
        ['/v1/jobs', '/v1/schedules', '/ui/queues/', '/ui/queues/api/queues'].map((path) =>
          fetch(path).then((r) => r.status),
        ),
      ),
    );
    expect(statuses).toEqual([401, 401, 401, 401]);

    await page.fill('#api-key', `wrong-${randomBytes(12).toString('hex')}`);
    await page.click('#signin-form button[type=submit]');
    await expect.poll(() => page.textContent('#signin-error')).toContain('not accepted (401)');
    expect(await page.isHidden('#top')).toBe(true);
    // The test's compiler has no DOM types: page-side code is given as text.
    expect(await page.evaluate('sessionStorage.length')).toBe(0);
  });

  it('the jobs page shows the running job, its progress advancing without a reload', async () => {
    const page = await openPage();
    await signIn(page, tenantKey);
    const bar = page.locator(`tr[data-job-id="${jobId}"] [role=progressbar]`);
    const value = async () => Number(await bar.getAttribute('aria-valuenow'));
    await bar.waitFor();
    // A mark the page would lose on a reload.
    await page.evaluate('window.notReloaded = true');
    await expect.poll(value, { timeout: 30_000 }).toBeGreaterThan(0);
    const first = await value();
    expect(first).toBeLessThan(100);
    await expect.poll(value, { timeout: 30_000 }).toBeGreaterThan(first);
    expect(await page.evaluate('window.notReloaded')).toBe(true);
    const row = page.locator(`tr[data-job-id="${jobId}"]`);
    expect(await row.textContent()).toMatch(/dashboard-e2e.*suite:dashboard/s);
    expect(await row.locator('.bar-label').textContent()).toMatch(/^\d+% · \d+\/36 chunks$/);
    await page.screenshot({ path: join(SCREENSHOTS, 'jobs.png') });
  });

  it('the job page shows its chunks by state and its usage, then its results', async () => {
    const page = await openPage();
    await signIn(page, tenantKey);
    await page.click(`tr[data-job-id="${jobId}"] a.job-name`);
    await page.waitForSelector('#progress [role=progressbar]');
    expect(await page.textContent('.job-head')).toContain(jobId);

    await page.waitForSelector('#chunks .chunk-grid [data-chunk-state]');
    expect(await page.locator('#chunks [data-chunk-state]').count()).toBe(CHUNKS);
    const counted = async () =>
      Object.fromEntries(
        await Promise.all(
          ['waiting', 'running', 'committed'].map(async (state) => [
            state,
            Number(await page.locator(`#chunks .chunk-count[data-state=${state}] b`).textContent()),
          ]),
        ),
      ) as Record<string, number>;
    await expect.poll(async () => (await counted()).committed, { timeout: 30_000 }).toBeGreaterThan(0);
    const counts = await counted();
    expect(counts.waiting! + counts.running! + counts.committed!).toBe(CHUNKS);

    await page.waitForSelector('#usage tr[data-usage=cpuSeconds]', { timeout: 30_000 });
    expect(await page.textContent('#usage tr[data-usage=bytesRead] td')).toMatch(/\d/);
    await page.waitForSelector('#chart canvas');
    await page.screenshot({ path: join(SCREENSHOTS, 'job.png') });

    await page.waitForSelector('.job-head .pill.s-succeeded', { timeout: 60_000 });
    await page.waitForSelector('#results table.files');
    expect(await page.locator('#results table.files').first().locator('tbody tr').count()).toBeGreaterThan(0);
    expect(await page.textContent('#results')).toContain(
      `${(CHUNKS * FILE_ROWS).toLocaleString('en-US')} scored`,
    );
  });

  it('an admin key sees bull-board under /ui/queues; other keys and no key are refused', async () => {
    const tenant = await openPage();
    await signIn(tenant, tenantKey);
    expect(await tenant.isHidden('#nav-queues')).toBe(true);
    expect(
      (
        await tenant.request.get(`${api.url}/ui/queues/`, {
          headers: { authorization: `Bearer ${tenantKey}` },
        })
      ).status(),
    ).toBe(403);
    expect((await tenant.request.get(`${api.url}/ui/queues/api/queues`)).status()).toBe(401);

    const admin = await openPage();
    await signIn(admin, adminKey);
    await admin.click('#nav-queues');
    await admin.waitForSelector('tr[data-queue=score]');
    const board = admin.frameLocator('iframe.board-frame');
    for (const name of ['plan', 'score', 'finalize', 'deliver']) {
      await board.getByText(name, { exact: true }).first().waitFor({ timeout: 15_000 });
    }
  });
});
