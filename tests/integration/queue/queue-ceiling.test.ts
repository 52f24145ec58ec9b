import { describe, expect, it } from 'vitest';
import { runQueueCeiling } from '../../../scripts/lib/queue-harness.js';

describe('the queue under 50 concurrent consumers (bench:queue’s harness: real queues, store, commits)', () => {
  it('commits each of 10,000 chunks exactly once across 5 processes × 10 consumers, none lost', async () => {
    const figures = await runQueueCeiling({ chunks: 10_000, processes: 5, consumersPerProcess: 10 });
    expect(figures.consumers).toBe(50);
    // Every row of the input is in exactly one part the manifest lists; the job counted every chunk once.
    expect(figures.exactlyOnce).toMatchObject({
      rowsInParts: 10_000,
      distinctRows: 10_000,
      chunksDone: 10_000,
    });
    // A retried chunk may be scored again, but never committed twice (checked above); none was skipped.
    expect(figures.exactlyOnce.scoredRows).toBeGreaterThanOrEqual(10_000);
    expect(figures.chunksPerSec).toBeGreaterThan(0);
    expect(figures.redisBytesPerPendingChunk).toBeGreaterThan(0);
  }, 300_000);
});
