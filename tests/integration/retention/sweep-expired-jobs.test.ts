import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sweepExpiredJobs } from '../../../jobs/retention/sweep-expired-jobs.js';
import { makeRedisJobStore } from '../../../services/queue/job-store.js';
import type { JobStore } from '../../../jobs/ports/job-store.js';
import { makeRedis, redisConfigFromEnv } from '../../../services/queue/redis-connection.js';
import { keysOf, spec } from '../api/api-harness.js';

const DAY_MS = 24 * 60 * 60 * 1000;
let redis: Redis;
let prefix: string;
let clock: number;
let store: JobStore;

beforeEach(() => {
  redis = makeRedis(redisConfigFromEnv().url);
  prefix = `{test-${randomBytes(6).toString('hex')}}`;
  clock = Date.parse('2026-01-01T00:00:00Z');
  store = makeRedisJobStore(redis, prefix, { now: () => new Date(clock) });
});

afterEach(async () => {
  const found = await keysOf(redis, prefix);
  if (found.length > 0) await redis.del(...found);
  await redis.quit();
});

async function cancelled(): Promise<string> {
  const { record } = await store.create(spec, { tenant: 'acme' });
  await store.transition(record.id, 'cancelling');
  await store.transition(record.id, 'cancelled');
  return record.id;
}

describe('retention sweep', () => {
  it('walks every page of old jobs and keeps those that ended after the cutoff', async () => {
    const old: string[] = [];
    for (let i = 0; i < 5; i++) {
      old.push(await cancelled());
      clock += 1_000;
    }
    // Created long ago as well, but ended only recently: kept until its own end is old enough.
    const { record: lateEnder } = await store.create(spec, { tenant: 'acme' });
    clock += 50 * DAY_MS;
    await store.transition(lateEnder.id, 'cancelling');
    await store.transition(lateEnder.id, 'cancelled');
    clock += 10 * DAY_MS;
    const fresh = await cancelled();

    const forgotten: string[] = [];
    const sweep = await sweepExpiredJobs(
      {
        store,
        forgetDeliveries: (id) => Promise.resolve(void forgotten.push(id)),
        now: () => new Date(clock),
      },
      { retentionMs: 30 * DAY_MS, pageSize: 2 },
    );
    expect(sweep).toEqual({ deleted: 5, examined: 6 });
    expect(forgotten.sort()).toEqual([...old].sort());
    for (const id of old) expect(await store.get(id)).toBeUndefined();
    expect((await store.get(lateEnder.id))?.status).toBe('cancelled');
    expect((await store.get(fresh))?.status).toBe('cancelled');
    const left = (await store.list({ limit: 10 })).jobs.map((j) => j.id);
    expect(left.sort()).toEqual([lateEnder.id, fresh].sort());
  });

  it('stops between jobs when its signal is aborted, and a later sweep finishes the work', async () => {
    for (let i = 0; i < 3; i++) await cancelled();
    clock += 40 * DAY_MS;
    const controller = new AbortController();
    const deps = {
      store,
      forgetDeliveries: () => {
        controller.abort();
        return Promise.resolve();
      },
      now: () => new Date(clock),
    };
    const first = await sweepExpiredJobs(deps, { retentionMs: 30 * DAY_MS, signal: controller.signal });
    expect(first.deleted).toBe(1);
    const second = await sweepExpiredJobs(
      { ...deps, forgetDeliveries: () => Promise.resolve() },
      { retentionMs: 30 * DAY_MS },
    );
    expect(second.deleted).toBe(2);
    expect((await store.list({ limit: 10 })).jobs).toEqual([]);
  });
});
