import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { defineQuiverCommands } from '../../../services/queue/lua-commands.js';
import { makeRedis } from '../../../services/queue/redis-connection.js';
import { makeTenantChunkShares } from '../../../services/queue/tenant-chunk-shares.js';
import { makeRecordingLog } from '../../helpers/recording-log.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('tenant running-chunk shares (real Redis)', () => {
  const prefix = `{test-${randomUUID().slice(0, 8)}}`;
  const redis = makeRedis('redis://127.0.0.1:6379');
  const log = makeRecordingLog();
  const shares = (leaseMs: number, share: Record<string, number> = { a: 2 }) =>
    makeTenantChunkShares({ redis, prefix, shareOf: (t) => share[t], leaseMs, log });
  const key = `${prefix}:tenant:a:running-chunks`;

  afterAll(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  it('admits up to the share, holds one slot per attempt however often taken, and frees it once', async () => {
    const s = shares(30_000);
    const one = await s.take('a', 'j', 0, 'x');
    const again = await s.take('a', 'j', 0, 'x');
    const two = await s.take('a', 'j', 1, 'y');
    expect(one && again && two).toBeTruthy();
    expect(await redis.zcard(key)).toBe(2);
    expect(await s.take('a', 'j', 2, 'z')).toBeUndefined();
    await one!.release();
    await one!.release();
    await again!.release();
    expect(await redis.zcard(key)).toBe(1);
    const three = await s.take('a', 'j', 2, 'z');
    expect(three).toBeDefined();
    await two!.release();
    await three!.release();
    // The last slot given back takes the set with it.
    expect(await redis.exists(key)).toBe(0);
  });

  it('gives a slot to a tenant without a share without writing anything', async () => {
    const slot = await shares(30_000).take('b', 'j', 0, 'x');
    expect(slot).toBeDefined();
    await slot!.release();
    expect(await redis.keys(`${prefix}:tenant:b:*`)).toEqual([]);
  });

  it('brings back the slot of a killed worker once its lease runs out, while a live one is renewed', async () => {
    const s = shares(300, { a: 2 });
    // A worker that took a slot and died: nobody renews or releases it.
    await defineQuiverCommands(redis).run('tenant-chunk-take', [key], ['dead:0:k', 2, 300]);
    const live = await s.take('a', 'j', 0, 'live');
    expect(live).toBeDefined();
    expect(await s.take('a', 'j', 1, 'w')).toBeUndefined();
    await sleep(700);
    // The dead lease ran out and was dropped; the live one (renewed every 100 ms) still counts.
    const after = await s.take('a', 'j', 1, 'w');
    expect(after).toBeDefined();
    expect(await redis.zrange(key, '0', '-1')).toEqual(expect.arrayContaining(['j:0:live', 'j:1:w']));
    expect(await s.take('a', 'j', 2, 'v')).toBeUndefined();
    await live!.release();
    await after!.release();
    expect(await redis.exists(key)).toBe(0);
  });
});
