import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Redis } from 'ioredis';
import { type Browser, type BrowserContext, type Page, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobOutputLayout } from '../../jobs/output-layout.js';
import { type JobView, jobViewSchema } from '../../schemas/job-record.js';
import { cacheDir } from '../../scripts/lib/datasets.js';
import { makeRedisJobStore } from '../../services/queue/job-store.js';
import { makeRedis } from '../../services/queue/redis-connection.js';
import { makeFileStorage } from '../../services/storage/file-storage.js';
import { type ApiProcess, startApiProcess } from '../helpers/api-process.js';
import { hostileColumn, runReportFixture } from '../helpers/run-report-fixture.js';
import { writeTenantsFile } from '../helpers/tenants-file.js';

/** Debian's package; `.ci/run` installs it when missing. */
const CHROMIUM = process.env.QUIVER_TEST_CHROMIUM ?? '/usr/bin/chromium';
const SCREENSHOTS = join(cacheDir, 'screenshots');

/**
 * The job page's Report section (issue 18.2) in Chromium against a real `quiver api` process and Redis.
 * No worker: the test plays finalize's part, writing a hand-built report where finalize writes it and
 * moving the job through the store the API reads, so the page is seen before and after the report exists.
 */
describe('the dashboard’s run report in Chromium (real API and Redis)', () => {
  let dir: string;
  let redis: Redis;
  let api: ApiProcess;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  const key = `tenant-${randomBytes(12).toString('hex')}`;
  const prefix = `{test-${randomUUID().slice(0, 8)}}`;

  async function openJob(id: string): Promise<{ page: Page; reportCalls: string[] }> {
    const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    contexts.push(context);
    const page = await context.newPage();
    const reportCalls: string[] = [];
    page.on('request', (request) => {
      if (request.url().endsWith(`/v1/jobs/${id}/report`)) reportCalls.push(request.url());
    });
    await page.goto(`${api.url}/ui`);
    await page.fill('#api-key', key);
    await page.click('#signin-form button[type=submit]');
    await page.waitForSelector('#top:not([hidden])');
    await page.evaluate(`location.hash = '#/jobs/${id}'`);
    await page.waitForSelector('#progress [role=progressbar]');
    return { page, reportCalls };
  }

  async function submit(name: string): Promise<JobView> {
    const response = await fetch(`${api.url}/v1/jobs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        name,
        input: { uri: pathToFileURL(join(dir, 'data')).href + '/', format: 'parquet' },
        model: { uri: pathToFileURL(join(dir, 'model.onnx')).href },
        output: { uri: pathToFileURL(join(dir, 'scores')).href + '/' },
      }),
    });
    expect(response.status).toBe(201);
    return jobViewSchema.parse(await response.json());
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'quiver-dashboard-report-'));
    redis = makeRedis('redis://127.0.0.1:6379');
    const tenants = join(dir, 'tenants.yaml');
    const grant = `${pathToFileURL(dir).href}/`;
    await writeTenantsFile(tenants, { acme: { keys: [key], read: [grant], write: [grant] } });
    [api, browser] = await Promise.all([
      startApiProcess({
        QUIVER_REDIS_URL: 'redis://127.0.0.1:6379',
        QUIVER_PREFIX: prefix,
        QUIVER_TENANTS_FILE: tenants,
        QUIVER_METRICS_PORT: 'off',
      }),
      chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] }),
    ]);
    await mkdir(SCREENSHOTS, { recursive: true });
  }, 60_000);

  afterAll(async () => {
    await Promise.allSettled(contexts.map((context) => context.close()));
    await browser?.close();
    await api?.stop();
    if (redis) {
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length > 0) await redis.del(...keys);
      redis.disconnect();
    }
    await rm(dir, { recursive: true, force: true });
  });

  it('says none yet, then shows the quality verdict, features, scores and agreement once it is written', async () => {
    const job = await submit('report-e2e');
    const { page, reportCalls } = await openJob(job.id);
    await page.waitForSelector('#report .report-none');
    expect(await page.textContent('#report')).toContain('No report yet');

    // Finalize's part: the report beside the manifest, then the job's end (the quality gate failed it).
    const report = runReportFixture(job.id, { createdAt: new Date().toISOString() });
    await makeFileStorage().write(
      jobOutputLayout(job.spec.output, job.id).report,
      Buffer.from(JSON.stringify(report)),
    );
    const store = makeRedisJobStore(redis, prefix);
    for (const to of ['planning', 'running', 'finalizing'] as const) await store.transition(job.id, to);
    await store.transition(job.id, 'failed', { error: { code: 'QUALITY_GATE_FAILED', message: 'psi' } });

    await page.waitForSelector('#report .pill.quality[data-quality=failed]', { timeout: 15_000 });
    const section = page.locator('#report');
    expect(await section.textContent()).toContain('1,240 scored, 10 rejected, 1,250 read');

    // The hostile column name is text: shown as written, nothing of it ran or became an element.
    const hostile = section.locator('.features tbody tr').filter({ hasText: 'amount' });
    expect(await hostile.locator('td code').textContent()).toBe(hostileColumn);
    expect(await page.evaluate('window.pwned')).toBeUndefined();
    expect(await section.locator('script').count()).toBe(0);
    expect(await hostile.locator('td.num').allTextContents()).toEqual([
      '1,200',
      '37',
      '3',
      '101.3',
      '–',
      '0',
      '912.5',
      '0.4567',
    ]);
    // The violation names the same column, check, value and limit.
    expect(await section.locator('.violations tbody tr td').allTextContents()).toEqual([
      hostileColumn,
      'feature',
      'psi',
      '0.4567',
      '0.25',
    ]);

    // One bar per histogram bin, the fullest one full height.
    const bars = section.locator('.features tr[data-column=f0] .hist-bar');
    expect(await bars.count()).toBe(4);
    const heights = await bars.evaluateAll((els) =>
      els.map((el) => parseFloat((el as unknown as { style: { height: string } }).style.height)),
    );
    expect(heights).toEqual([6.7, 100, 83.3, 16.7]);

    const score = section.locator('.scores tr[data-column=score]');
    expect(await score.locator('td[data-quantile=p1]').textContent()).toBe('0.0104');
    expect(await score.locator('td[data-quantile=p50]').textContent()).toBe('0.5004');
    expect(await score.locator('td[data-quantile=p99]').textContent()).toBe('0.9904');
    expect(await section.locator('.agreement tr[data-challenger=v4] td').allTextContents()).toEqual([
      'v4',
      'score',
      '1,240',
      '0.0321',
      '0.9876',
      '93.2% at 0.5',
    ]);
    await page.screenshot({ path: join(SCREENSHOTS, 'job-report.png'), fullPage: true });

    // Asked once per status the page saw, never more often than the job itself; then no more.
    const asked = reportCalls.length;
    expect(asked).toBeGreaterThanOrEqual(2);
    expect(asked).toBeLessThanOrEqual(5);
    await page.waitForTimeout(3_000);
    expect(reportCalls.length).toBe(asked);
  });

  it('says a finished job without a report has none', async () => {
    const job = await submit('no-report');
    const store = makeRedisJobStore(redis, prefix);
    for (const to of ['planning', 'running', 'finalizing', 'succeeded'] as const)
      await store.transition(job.id, to);
    const { page } = await openJob(job.id);
    await page.waitForSelector('#report .report-none');
    expect(await page.textContent('#report')).toContain('No report for this job');
  });
});
