import { describe, expect, it } from 'vitest';
import { makeScoreSlots } from '../../../services/worker/score-slots.js';

const never = new AbortController().signal;

describe('score slots (one process, several score queues)', () => {
  it('lets `limit` holders in, passes each released slot to the next waiter, and answers false once closed', async () => {
    const slots = makeScoreSlots(2);
    expect(await slots.acquire(never)).toBe(true);
    expect(await slots.acquire(never)).toBe(true);
    let third: boolean | undefined;
    const waiting = slots.acquire(never).then((held) => (third = held));
    await Promise.resolve();
    expect(third).toBeUndefined();
    slots.release();
    await waiting;
    expect(third).toBe(true);

    const fourth = slots.acquire(never);
    slots.close();
    expect(await fourth).toBe(false);
    expect(await slots.acquire(never)).toBe(false);
    slots.close();
  });

  it('rejects a waiter whose signal aborts, and gives its place to no one', async () => {
    const slots = makeScoreSlots(1);
    expect(await slots.acquire(never)).toBe(true);
    const controller = new AbortController();
    const aborted = slots.acquire(controller.signal);
    controller.abort(new Error('lock lost'));
    await expect(aborted).rejects.toThrow('lock lost');
    slots.release();
    // The slot is free again: the aborted waiter did not take it.
    expect(await slots.acquire(never)).toBe(true);
  });
});
