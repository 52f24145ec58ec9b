import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { JobStore } from '../../../jobs/ports/job-store.js';
import { parseJobSpec } from '../../../schemas/job-spec.js';
import { makeRedisJobStore } from '../../../services/queue/job-store.js';
import { makeRedis, redisConfigFromEnv } from '../../../services/queue/redis-connection.js';
import { makeMemoryJobStore } from '../../helpers/memory-ports/memory-job-store.js';

const spec = parseJobSpec({
  input: { uri: 's3://events/dt=2026-11-27/', format: 'parquet' },
  model: { uri: 's3://models/fraud/v3.onnx' },
  output: { uri: 's3://scores/fraud/' },
});

let redis: Redis;
const prefixes: string[] = [];

beforeAll(async () => {
  redis = makeRedis(redisConfigFromEnv().url);
  await redis.ping();
});
afterAll(async () => {
  await redis.quit();
});
afterEach(async () => {
  for (const prefix of prefixes.splice(0)) {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
  }
});

type Clock = { ms: number };
const stores: Array<[string, (clock: Clock) => JobStore]> = [
  [
    'redis',
    (clock) => {
      const prefix = `{test-${randomBytes(6).toString('hex')}}`;
      prefixes.push(prefix);
      return makeRedisJobStore(redis, prefix, { now: () => new Date(clock.ms) });
    },
  ],
  [
    'memory (the fake the processor tests use)',
    (clock) => makeMemoryJobStore({ now: () => new Date(clock.ms) }),
  ],
];

/** A job planned into `chunks` chunks and running, at the clock's time. */
async function runningJob(store: JobStore, chunks: number): Promise<string> {
  const { record } = await store.create(spec);
  await store.transition(record.id, 'planning');
  await store.setPlan(record.id, { chunksTotal: chunks, inputRows: chunks * 100 });
  await store.transition(record.id, 'running');
  return record.id;
}

describe.each(stores)('job usage, chunk report and counts: %s store', (_name, makeStore) => {
  it('usage: absent until an attempt begins, then every attempt’s use, retries and the scoring rate', async () => {
    const clock = { ms: Date.parse('2026-12-01T01:00:00.000Z') };
    const store = makeStore(clock);
    const id = await runningJob(store, 2);
    expect((await store.get(id))?.usage).toBeUndefined();

    await store.beginAttempt(id, 0, 'a0');
    await store.addUsage(id, { cpuSeconds: 1.5, deviceSeconds: 0.5, bytesRead: 1000, bytesWritten: 10 });
    // The attempt is lost; its retry is charged too, and counted as a retry.
    clock.ms += 4_000;
    await store.beginAttempt(id, 0, 'a1');
    await store.addUsage(id, { cpuSeconds: 2, deviceSeconds: 1, bytesRead: 1000, bytesWritten: 200 });
    await store.beginAttempt(id, 1, 'b0');
    await store.addUsage(id, { cpuSeconds: 0.25, supersededAttempts: 1 });
    clock.ms += 6_000;
    await store.commitChunk(id, 0, { rows: 600, rejected: 0, attempt: 'a1' });
    // Running: the rate so far, over the time since the first attempt began.
    clock.ms += 10_000;
    expect((await store.get(id))?.usage).toEqual({
      cpuSeconds: 3.75,
      deviceSeconds: 1.5,
      bytesRead: 2000,
      bytesWritten: 210,
      scoringSeconds: 20,
      rowsPerSecond: 30,
      retries: 1,
      supersededAttempts: 1,
    });
    await store.beginAttempt(id, 1, 'b1');
    await store.commitChunk(id, 1, { rows: 400, rejected: 0, attempt: 'b1' });
    await store.transition(id, 'finalizing');
    // Done scoring: the rate over first attempt → last commit, however long finalizing takes.
    clock.ms += 60_000;
    const done = (await store.get(id))?.usage;
    expect(done).toMatchObject({ scoringSeconds: 20, rowsPerSecond: 50, retries: 2 });
    await expect(store.addUsage(id, { cpuSeconds: -1 })).rejects.toThrow(RangeError);
    // A job gone meanwhile stays gone.
    await store.delete(id);
    await store.addUsage(id, { cpuSeconds: 1 });
    expect(await store.get(id)).toBeUndefined();
  });

  it('chunk report: chunks by state, a page of them, and rows done over time', async () => {
    const clock = { ms: Date.parse('2026-12-01T01:00:00.000Z') };
    const store = makeStore(clock);
    const id = await runningJob(store, 5);
    const started = (await store.get(id))!.startedAt!;
    for (const index of [0, 1, 2]) await store.beginAttempt(id, index, `a${index}`);
    await store.beginAttempt(id, 2, 'a2-retry');
    clock.ms += 1_000;
    await store.commitChunk(id, 1, { rows: 90, rejected: 10, attempt: 'a1' });
    clock.ms += 1_000;
    await store.commitChunk(id, 0, { rows: 100, rejected: 0, attempt: 'a0' });

    const report = await store.chunkReport(id, { offset: 1, limit: 3 });
    expect(report).toEqual({
      total: 5,
      counts: { waiting: 2, running: 1, committed: 2 },
      chunks: [
        {
          index: 1,
          state: 'committed',
          attempts: 1,
          rows: 90,
          rejected: 10,
          committedAt: '2026-12-01T01:00:01.000Z',
        },
        { index: 2, state: 'running', attempts: 2 },
        { index: 3, state: 'waiting', attempts: 0 },
      ],
      timeline: [
        { at: started, rows: 0 },
        { at: '2026-12-01T01:00:01.000Z', rows: 100 },
        { at: '2026-12-01T01:00:02.000Z', rows: 200 },
      ],
    });
    expect(await store.chunkReport('no-such-job', { offset: 0, limit: 10 })).toBeUndefined();
  });

  it('counts: jobs by status across tenants, the finished totals, and running jobs without progress', async () => {
    const clock = { ms: Date.parse('2026-12-01T01:00:00.000Z') };
    const store = makeStore(clock);
    const minutes = (n: number) => new Date(clock.ms - n * 60_000);
    // Jobs made before anything asked for the counts are counted too (Redis: made from the records once).
    const stale = await runningJob(store, 3);
    const { record: queued } = await store.create(spec, { tenant: 'other' });
    expect(await store.counts({ stalledSince: minutes(15) })).toMatchObject({
      byStatus: { queued: 1, running: 1, succeeded: 0 },
      stalled: 0,
    });

    clock.ms += 10 * 60_000;
    const moving = await runningJob(store, 3);
    const failing = await runningJob(store, 3);
    await store.transition(failing, 'failed');
    await store.transition(queued.id, 'cancelling');
    await store.transition(queued.id, 'cancelled');
    clock.ms += 10 * 60_000;
    // `moving` makes progress by an accepted segment, then a commit: 20 minutes in, only `stale` is stalled.
    await store.beginAttempt(moving, 0, 'm0');
    await store.acceptSegment(moving, 0, 'm0', 'seg-1');
    expect(await store.counts({ stalledSince: minutes(15) })).toEqual({
      byStatus: {
        queued: 0,
        planning: 0,
        running: 2,
        finalizing: 0,
        succeeded: 0,
        failed: 1,
        cancelling: 0,
        cancelled: 1,
        expired: 0,
      },
      finished: { succeeded: 0, failed: 1, cancelled: 1, expired: 0 },
      stalled: 1,
    });
    clock.ms += 16 * 60_000;
    await store.commitChunk(moving, 0, { rows: 100, rejected: 0, attempt: 'm0' });
    await store.transition(stale, 'finalizing');
    await store.transition(stale, 'succeeded');
    await store.delete(failing);
    const after = await store.counts({ stalledSince: minutes(15) });
    // A deleted job leaves the counts by status, not the finished totals.
    expect(after.byStatus).toMatchObject({ running: 1, succeeded: 1, failed: 0, cancelled: 1 });
    expect(after.finished).toEqual({ succeeded: 1, failed: 1, cancelled: 1, expired: 0 });
    expect(after.stalled).toBe(0);
  });
});

describe('Redis job counts', () => {
  it('are made once from the records, then kept by every move (a lost counts hash is made again)', async () => {
    const prefix = `{test-${randomBytes(6).toString('hex')}}`;
    prefixes.push(prefix);
    const store = makeRedisJobStore(redis, prefix);
    for (let i = 0; i < 3; i++) await store.create(spec);
    expect((await store.counts({ stalledSince: new Date() })).byStatus.queued).toBe(3);
    await store.create(spec);
    expect((await store.counts({ stalledSince: new Date() })).byStatus.queued).toBe(4);
    await redis.del(`${prefix}:job-counts`);
    expect((await store.counts({ stalledSince: new Date() })).byStatus.queued).toBe(4);
  });
});
