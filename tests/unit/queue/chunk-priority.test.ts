import { describe, expect, it } from 'vitest';
import { chunkPriority } from '../../../services/queue/queues.js';

describe('chunkPriority', () => {
  it("interleaves jobs' chunks within a level and keeps urgent levels first", () => {
    // Job A (10 chunks) and job B (3 chunks), both priority 5: ordered by priority, A0 B0 A1 B1 A2 B2 A3 …
    const order = [
      ...Array.from({ length: 10 }, (_, i) => ({ job: 'A', i, p: chunkPriority(5, i) })),
      ...Array.from({ length: 3 }, (_, i) => ({ job: 'B', i, p: chunkPriority(5, i) })),
    ].sort((x, y) => x.p - y.p || (x.job < y.job ? -1 : 1));
    expect(order.slice(0, 6).map((c) => `${c.job}${c.i}`)).toEqual(['A0', 'B0', 'A1', 'B1', 'A2', 'B2']);
    // The last chunk of an urgent job still beats the first of a normal one.
    expect(chunkPriority(1, 199_999)).toBeLessThan(chunkPriority(2, 0));
    // Every value is a valid BullMQ priority.
    expect(chunkPriority(10, 10_000_000)).toBeLessThanOrEqual(2 ** 21 - 1);
    expect(chunkPriority(1, 0)).toBe(1);
  });
});
