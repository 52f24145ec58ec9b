import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { parseSchedule } from '../../jobs/schedule/parse-schedule.js';
import type { JobRecord } from '../../schemas/job-record.js';
import { makeRedisJobStore } from '../../services/queue/job-store.js';
import { makeRedis } from '../../services/queue/redis-connection.js';
import { makeScheduleQueue } from '../../services/scheduler/schedule-queue.js';
import { makeRedisScheduleRuns } from '../../services/scheduler/schedule-runs.js';
import { makeRedisScheduleStore } from '../../services/scheduler/schedule-store.js';
import { makeSchedules } from '../../services/scheduler/schedules.js';

const quiver = join(import.meta.dirname, '../../services/cli/quiver.js');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** How long the every-second schedule runs against the three schedulers. */
const RUN_MS = 20_000;

interface SchedulerHandle {
  child: ChildProcess;
  events: Array<{ msg: string; [key: string]: unknown }>;
  exited: Promise<number | null>;
}

/**
 * The check: three real `quiver scheduler` processes on one Redis, a schedule firing every second
 * for 20 s, and exactly one job per logical second, none missing, counted by idempotency key. No workers:
 * the jobs stay queued, so `maxActiveRuns` is set high enough never to hold a run back.
 */
describe('three quiver scheduler processes against one Redis', () => {
  const prefix = `{test-e2e-3sched-${randomUUID().slice(0, 8)}}`;
  const env = { QUIVER_REDIS_URL: 'redis://127.0.0.1:6379', QUIVER_PREFIX: prefix };
  const redis: Redis = makeRedis(env.QUIVER_REDIS_URL);
  const schedulers: SchedulerHandle[] = [];
  const scheduleQueue = makeScheduleQueue(redis, prefix, () => undefined);

  function startScheduler(): SchedulerHandle {
    const child = spawn(process.execPath, [quiver, 'scheduler', '--grace-seconds', '5'], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const events: SchedulerHandle['events'] = [];
    for (const stream of [child.stdout, child.stderr])
      createInterface({ input: stream }).on('line', (line) => {
        try {
          events.push(JSON.parse(line) as { msg: string });
        } catch {
          events.push({ msg: `(text) ${line}` });
        }
      });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    return { child, events, exited };
  }

  afterAll(async () => {
    for (const { child } of schedulers)
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await Promise.all(schedulers.map((s) => s.exited));
    await scheduleQueue.close();
    const found = await redis.keys(`${prefix}*`);
    if (found.length > 0) await redis.del(...found);
    redis.disconnect();
  });

  it('makes exactly one job per logical second, none missing', { timeout: 90_000 }, async () => {
    for (let i = 0; i < 3; i += 1) schedulers.push(startScheduler());
    const deadline = Date.now() + 30_000;
    while (!schedulers.every((s) => s.events.some((e) => e.msg === 'schedules caught up'))) {
      if (Date.now() > deadline)
        throw new Error(
          `schedulers did not start: ${JSON.stringify(schedulers.map((s) => s.events.at(-1)))}`,
        );
      await sleep(100);
    }

    const schedules = makeSchedules(
      makeRedisScheduleStore(redis, prefix),
      scheduleQueue,
      makeRedisScheduleRuns(redis, prefix),
    );
    const definition = parseSchedule({
      name: 'every-second',
      cron: '* * * * * *',
      maxActiveRuns: 1000,
      job: {
        input: { uri: 's3://events/dt={date}/t={datetime}/', format: 'parquet' },
        model: { uri: 's3://models/m.onnx', inputs: { features: { columns: ['f0'] } } },
        output: { uri: 's3://scores/' },
      },
    });
    await schedules.save('acme', definition);
    await sleep(RUN_MS);
    // The end of the window: no more ticks, then every scheduler drains.
    await schedules.setPaused('acme', 'every-second', true);
    for (const { child } of schedulers) child.kill('SIGTERM');
    expect(await Promise.all(schedulers.map((s) => s.exited))).toEqual([0, 0, 0]);

    const store = makeRedisJobStore(redis, prefix);
    const jobs: JobRecord[] = [];
    let cursor: string | undefined;
    do {
      const page = await store.list({ limit: 100, ...(cursor === undefined ? {} : { cursor }) });
      jobs.push(...page.jobs);
      cursor = page.nextCursor ?? undefined;
    } while (cursor !== undefined);

    const keyPrefix = 'schedule:every-second:';
    const keys = jobs.map((job) => job.idempotencyKey ?? '');
    expect(keys.every((key) => key.startsWith(keyPrefix))).toBe(true);
    // One job per key (job ids derive from keys), and one key per logical second.
    expect(new Set(keys).size).toBe(keys.length);
    const seconds = keys.map((key) => Date.parse(key.slice(keyPrefix.length)) / 1000).sort((a, b) => a - b);
    expect(seconds.every(Number.isInteger)).toBe(true);
    expect(new Set(seconds).size).toBe(seconds.length);
    // Every logical second between the first and the last has its job; only the window's edges may vary.
    const first = seconds[0]!;
    const last = seconds.at(-1)!;
    expect(seconds).toEqual(Array.from({ length: last - first + 1 }, (_, i) => first + i));
    expect(seconds.length).toBeGreaterThanOrEqual(RUN_MS / 1000 - 2);
    expect(seconds.length).toBeLessThanOrEqual(RUN_MS / 1000 + 3);
    // Each job's input was rendered for its own second.
    for (const job of jobs)
      expect(job.spec.input.uri).toContain(
        `/t=${new Date(Date.parse(job.idempotencyKey!.slice(keyPrefix.length))).toISOString()}/`,
      );

    const submittedBy = schedulers.map((s) => s.events.filter((e) => e.msg === 'job submitted').length);
    expect(submittedBy.reduce((a, b) => a + b, 0)).toBe(jobs.length);
    console.info(`jobs submitted per scheduler: ${submittedBy.join(', ')}`);
  });
});
