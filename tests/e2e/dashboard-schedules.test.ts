import { randomBytes, randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobViewSchema } from '../../schemas/job-record.js';
import { makeRedis } from '../../services/queue/redis-connection.js';
import { type ApiProcess, startApiProcess } from '../helpers/api-process.js';

const CHROMIUM = process.env.QUIVER_TEST_CHROMIUM ?? '/usr/bin/chromium';

/** The dashboard's schedules page in a real browser against a real API (no workers: jobs stay queued). */
describe('dashboard: the schedules page', () => {
  const prefix = `{test-dash-sched-${randomUUID().slice(0, 8)}}`;
  const key = `ops-${randomBytes(12).toString('hex')}`;
  let api: ApiProcess;
  let browser: Browser;
  let redis: Redis;

  beforeAll(async () => {
    redis = makeRedis('redis://127.0.0.1:6379');
    [api, browser] = await Promise.all([
      startApiProcess({
        QUIVER_REDIS_URL: 'redis://127.0.0.1:6379',
        QUIVER_PREFIX: prefix,
        QUIVER_API_KEYS: `acme:${key}:admin`,
        QUIVER_STORAGE_GRANTS: 'open',
        QUIVER_METRICS_PORT: 'off',
      }),
      chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] }),
    ]);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await api?.stop();
    if (redis) {
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length > 0) await redis.del(...keys);
      redis.disconnect();
    }
  });

  const call = async (method: string, path: string, body: unknown = {}) => {
    const response = await fetch(`${api.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(response.status, await response.clone().text()).toBeLessThan(300);
    return response.json();
  };

  it('shows paused, the next fire times, active and waiting runs, and links the last runs’ jobs', async () => {
    await call('POST', '/v1/schedules', {
      name: 'nightly',
      cron: '0 2 * * *',
      maxActiveRuns: 1,
      job: {
        input: { uri: 's3://events/dt={date-1d}/', format: 'parquet' },
        model: { uri: 's3://models/m.onnx', inputs: { features: { columns: ['f0'] } } },
        output: { uri: 's3://scores/' },
      },
    });
    const job = jobViewSchema.parse(await call('POST', '/v1/schedules/nightly/run', { at: '2026-11-20' }));
    // One run active (its job queued), one waiting behind it.
    await call('POST', '/v1/schedules/nightly/backfill', { from: '2026-11-21', to: '2026-11-21' });
    await call('POST', '/v1/schedules', {
      name: 'hourly',
      cron: '0 * * * *',
      paused: true,
      job: {
        input: { uri: 's3://events/dt={date}/hour={hour-1h}/', format: 'parquet' },
        model: { uri: 's3://models/m.onnx', inputs: { features: { columns: ['f0'] } } },
        output: { uri: 's3://scores/' },
      },
    });

    const page = await (await browser.newContext()).newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(`${api.url}/ui`);
    await page.fill('#api-key', key);
    await page.click('#signin-form button[type=submit]');
    await page.waitForSelector('#top:not([hidden])');
    await page.goto(`${api.url}/ui/#/schedules`);

    const nightly = page.locator('tr[data-schedule="nightly"]');
    await nightly.locator('.last-runs .run').first().waitFor();
    expect(await nightly.locator('.pill').first().textContent()).toBe('active');
    expect(await nightly.locator('.next-runs .sub').count()).toBe(5);
    // The cell's two lines, as text: the counts, then the limit.
    expect(await nightly.locator('.active-runs').textContent()).toBe('1 active · 1 waitingat most 1 at once');
    const runs = nightly.locator('.last-runs .run');
    expect(await runs.count()).toBe(2);
    expect(await runs.nth(0).textContent()).toMatch(/^waiting 2026-11-21T02:00\+00:00 · job [0-9a-f]{8}$/);
    expect(await runs.nth(0).locator('a').count()).toBe(0);
    expect(await runs.nth(1).locator('a').getAttribute('href')).toBe(`#/jobs/${job.id}`);
    expect(await runs.nth(1).textContent()).toMatch(/^queued 2026-11-20T02:00\+00:00 · job /);

    const hourly = page.locator('tr[data-schedule="hourly"]');
    expect(await hourly.locator('.pill').first().textContent()).toBe('paused');
    expect(await hourly.locator('.next-runs').textContent()).toBe('–');
    expect(errors).toEqual([]);
    await page.context().close();
  });
});
