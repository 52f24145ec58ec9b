import { describe, expect, it } from 'vitest';
import { makeTensorPool } from '../../../services/scoring/tensor-pool.js';

describe('tensor pool', () => {
  it('hands back a recycled buffer of the same byte size, typed as asked', () => {
    const pool = makeTensorPool({ maxPerSize: 2 });
    const first = pool.take('float32', 1_024);
    expect(first).toBeInstanceOf(Float32Array);
    pool.give([first.buffer as ArrayBuffer]);
    const again = pool.take('int32', 1_024); // same 4 KiB: any 4-byte type may reuse it
    expect(again.buffer).toBe(first.buffer);
    expect(again).toBeInstanceOf(Int32Array);
    expect(pool.take('float64', 1_024).buffer).not.toBe(first.buffer); // 8 KiB: a new one
    expect(pool.stats()).toEqual({ reused: 1, allocated: 2 });
  });

  it('keeps at most maxPerSize buffers of one size and ignores detached ones', () => {
    const pool = makeTensorPool({ maxPerSize: 1 });
    const a = new ArrayBuffer(64);
    const b = new ArrayBuffer(64);
    const detached = new ArrayBuffer(64);
    structuredClone(detached, { transfer: [detached] });
    pool.give([detached, a, b]);
    expect(pool.take('float32', 16).buffer).toBe(a);
    expect(pool.take('float32', 16).buffer).not.toBe(b);
    expect(pool.stats()).toEqual({ reused: 1, allocated: 1 });
  });

  it('forgets every kept buffer on clear', () => {
    const pool = makeTensorPool({ maxPerSize: 4 });
    const kept = new ArrayBuffer(64);
    pool.give([kept]);
    pool.clear();
    expect(pool.take('float32', 16).buffer).not.toBe(kept);
  });
});
