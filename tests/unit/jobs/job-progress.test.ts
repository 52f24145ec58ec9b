import { describe, expect, it } from 'vitest';
import { progressOf, type ProgressFacts } from '../../../jobs/job-progress.js';

const startedAt = '2026-11-28T01:00:00.000Z';
const startMs = Date.parse(startedAt);
const counters: ProgressFacts = { chunksDone: 0, rowsScored: 0, rowsRejected: 0 };

describe('progressOf', () => {
  it('is all zeros with no ETA before planning has counted the chunks', () => {
    expect(progressOf(counters, 'queued', startMs)).toEqual({
      chunksTotal: 0,
      chunksDone: 0,
      rowsScored: 0,
      rowsRejected: 0,
      rowsPerSecond: 0,
      etaSeconds: null,
    });
  });

  it('has no ETA until a chunk is committed', () => {
    const facts = { ...counters, chunksTotal: 4, startedAt };
    expect(progressOf(facts, 'running', startMs + 10_000).etaSeconds).toBeNull();
  });

  it('extrapolates the chunk rate since planning over the chunks left', () => {
    const facts = { chunksTotal: 10, chunksDone: 2, rowsScored: 1_000, rowsRejected: 3, startedAt };
    // 2 chunks in 4 s: 8 left take 16 s; 1000 rows in 4 s.
    expect(progressOf(facts, 'running', startMs + 4_000)).toEqual({
      chunksTotal: 10,
      chunksDone: 2,
      rowsScored: 1_000,
      rowsRejected: 3,
      rowsPerSecond: 250,
      etaSeconds: 16,
    });
  });

  it('rounds the rate to a tenth and the ETA up to a whole second', () => {
    const facts = { chunksTotal: 4, chunksDone: 3, rowsScored: 10, rowsRejected: 0, startedAt };
    expect(progressOf(facts, 'running', startMs + 3_000)).toMatchObject({
      rowsPerSecond: 3.3,
      etaSeconds: 1,
    });
    expect(progressOf(facts, 'running', startMs + 2_500)).toMatchObject({ etaSeconds: 1 });
    expect(progressOf({ ...facts, chunksTotal: 5 }, 'running', startMs + 2_000)).toMatchObject({
      etaSeconds: 2,
    });
  });

  it('says 0 s left once every chunk is done, before the job is finalized', () => {
    const facts = { chunksTotal: 2, chunksDone: 2, rowsScored: 8, rowsRejected: 0, startedAt };
    expect(progressOf(facts, 'finalizing', startMs + 1_000).etaSeconds).toBe(0);
  });

  it('freezes the rate when the job finished', () => {
    const facts = {
      chunksTotal: 2,
      chunksDone: 2,
      rowsScored: 1_000,
      rowsRejected: 0,
      startedAt,
      finishedAt: '2026-11-28T01:00:10.000Z',
    };
    const later = startMs + 3_600_000;
    expect(progressOf(facts, 'succeeded', later)).toMatchObject({ rowsPerSecond: 100, etaSeconds: 0 });
  });

  it('has no ETA for a job that will not finish', () => {
    const facts = { chunksTotal: 4, chunksDone: 1, rowsScored: 5, rowsRejected: 0, startedAt };
    for (const status of ['cancelling', 'cancelled', 'failed'] as const) {
      expect(progressOf(facts, status, startMs + 1_000).etaSeconds).toBeNull();
    }
  });

  it('gives the input rows as rowsTotal only when planning knew them', () => {
    expect(progressOf(counters, 'running', startMs)).not.toHaveProperty('rowsTotal');
    expect(progressOf({ ...counters, inputRows: 0 }, 'running', startMs).rowsTotal).toBe(0);
    expect(progressOf({ ...counters, inputRows: 1_234 }, 'running', startMs).rowsTotal).toBe(1_234);
  });
});
