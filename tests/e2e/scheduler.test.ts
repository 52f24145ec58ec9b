import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobListSchema } from '../../schemas/api.js';
import type { JobView } from '../../schemas/job-record.js';
import { scheduleViewSchema } from '../../schemas/schedule.js';
import { makeRedis } from '../../services/queue/redis-connection.js';
import { type ApiProcess, startApiProcess } from '../helpers/api-process.js';

const quiver = join(import.meta.dirname, '../../services/cli/quiver.js');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('quiver scheduler (real API and scheduler processes)', () => {
  const prefix = `{test-e2e-sched-${randomUUID().slice(0, 8)}}`;
  const keys = {
    acme: `acme-${randomBytes(12).toString('hex')}`,
    ops: `ops-${randomBytes(12).toString('hex')}`,
  };
  const env = { QUIVER_REDIS_URL: 'redis://127.0.0.1:6379', QUIVER_PREFIX: prefix };
  let redis: Redis;
  let api: ApiProcess;
  let scheduler: ChildProcess;
  const events: Array<{ msg: string; [key: string]: unknown }> = [];
  let exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  beforeAll(async () => {
    redis = makeRedis(env.QUIVER_REDIS_URL);
    api = await startApiProcess({
      ...env,
      QUIVER_API_KEYS: `acme:${keys.acme},ops:${keys.ops}:admin`,
      QUIVER_STORAGE_GRANTS: 'open',
    });
    scheduler = spawn(process.execPath, [quiver, 'scheduler', '--grace-seconds', '5'], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    exited = new Promise((resolve) => scheduler.once('exit', (code, signal) => resolve({ code, signal })));
    for (const stream of [scheduler.stdout, scheduler.stderr]) {
      createInterface({ input: stream! }).on('line', (line) => {
        try {
          events.push(JSON.parse(line) as { msg: string });
        } catch {
          events.push({ msg: `(text) ${line}` });
        }
      });
    }
  });

  afterAll(async () => {
    if (scheduler && scheduler.exitCode === null && scheduler.signalCode === null) scheduler.kill('SIGKILL');
    await api?.stop();
    if (redis) {
      const found = await redis.keys(`${prefix}*`);
      if (found.length > 0) await redis.del(...found);
      redis.disconnect();
    }
  });

  async function waitFor(msg: string, timeoutMs = 15_000) {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const found = events.find((e) => e.msg === msg);
      if (found) return found;
      await sleep(50);
    }
    throw new Error(`no "${msg}" from the scheduler: ${JSON.stringify(events.slice(-5))}`);
  }

  it('prints its help and refuses unknown flags', () => {
    const help = spawnSync(process.execPath, [quiver, 'scheduler', '--help'], { encoding: 'utf8' });
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('Usage: quiver scheduler');
    const bad = spawnSync(process.execPath, [quiver, 'scheduler', '--bogus'], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
  });

  it('submits the job of a schedule POSTed over HTTP, then drains on SIGTERM and exits 0', async () => {
    await waitFor('scheduler started');
    const posted = await fetch(`${api.url}/v1/schedules?tenant=acme`, {
      method: 'POST',
      headers: { authorization: `Bearer ${keys.ops}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        name: 'every-second',
        cron: '* * * * * *',
        job: {
          input: { uri: 's3://events/dt={date}/', format: 'parquet' },
          model: { uri: 's3://models/m.onnx', inputs: { features: { columns: ['f0'] } } },
          output: { uri: 's3://scores/' },
        },
      }),
    });
    expect(posted.status).toBe(201);
    scheduleViewSchema.parse(await posted.json());

    const deadline = Date.now() + 15_000;
    let jobs: JobView[] = [];
    while (jobs.length === 0 && Date.now() < deadline) {
      await sleep(200);
      const listed = await fetch(`${api.url}/v1/jobs`, { headers: { authorization: `Bearer ${keys.acme}` } });
      jobs = jobListSchema.parse(await listed.json()).jobs;
    }
    expect(jobs).toHaveLength(1);
    const submitted = await waitFor('job submitted');
    expect(submitted).toMatchObject({ tenant: 'acme', schedule: 'every-second', jobId: jobs[0]?.id });
    expect(jobs[0]?.spec.input.uri).toBe(`s3://events/dt=${String(submitted.date)}/`);

    scheduler.kill('SIGTERM');
    expect(await exited).toEqual({ code: 0, signal: null });
    expect(events.find((e) => e.msg === 'stopped')).toMatchObject({ exitCode: 0, reason: 'SIGTERM' });
  });
});
