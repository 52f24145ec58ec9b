import { DelayedError, type Job } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { ChunkDeferred } from '../../../jobs/score/errors/chunk-deferred.js';
import { deferOverShare, deferralMs } from '../../../services/worker/defer-over-share.js';

describe('chunks over their tenant share', () => {
  it('wait 200 ms at first, twice as long each time after, at most 5 s, jittered down to half', () => {
    const wait = (attemptsStarted: number, random: number) =>
      deferralMs({ attemptsStarted, attemptsMade: 0 }, () => random);
    expect([1, 2, 3, 4].map((n) => wait(n, 1))).toEqual([200, 400, 800, 1_600]);
    expect(wait(20, 1)).toBe(5_000);
    expect(wait(1, 0)).toBe(100);
    // Failed attempts are not waits.
    expect(deferralMs({ attemptsStarted: 3, attemptsMade: 2 }, () => 1)).toBe(200);
  });

  it('go back to delayed and end the processor with DelayedError; other errors pass through', async () => {
    const moved: Array<[number, string | undefined]> = [];
    const job = {
      attemptsStarted: 1,
      attemptsMade: 0,
      moveToDelayed: (at: number, token?: string) => {
        moved.push([at, token]);
        return Promise.resolve();
      },
    } as unknown as Job<unknown>;
    const before = Date.now();
    const deferred = deferOverShare(() => Promise.reject(new ChunkDeferred('acme', 'j', 0)));
    await expect(deferred(job, 'token-1')).rejects.toBeInstanceOf(DelayedError);
    expect(moved).toHaveLength(1);
    expect(moved[0]![1]).toBe('token-1');
    expect(moved[0]![0] - before).toBeGreaterThanOrEqual(100);

    const failing = deferOverShare(() => Promise.reject(new Error('boom')));
    await expect(failing(job, 'token-1')).rejects.toThrow('boom');
    expect(moved).toHaveLength(1);
  });
});
