import { describe, expect, it } from 'vitest';

import { makeGlobMatcher } from '../../../services/storage/glob.js';

describe('makeGlobMatcher', () => {
  it('matches * within one segment only', () => {
    const matches = makeGlobMatcher('*.parquet');
    expect(matches('part-0.parquet')).toBe(true);
    expect(matches('dt=1/part-0.parquet')).toBe(false);
    expect(matches('part-0.csv')).toBe(false);
  });

  it('matches ** across segments', () => {
    const matches = makeGlobMatcher('**/*.parquet');
    expect(matches('part-0.parquet')).toBe(true);
    expect(matches('dt=1/hour=2/part-0.parquet')).toBe(true);
    expect(matches('dt=1/part-0.json')).toBe(false);
  });

  it('supports ?, braces and classes', () => {
    expect(makeGlobMatcher('part-?.{csv,jsonl}')('part-7.jsonl')).toBe(true);
    expect(makeGlobMatcher('part-?.{csv,jsonl}')('part-17.csv')).toBe(false);
    expect(makeGlobMatcher('dt=2026-11-2[6-7]/*')('dt=2026-11-27/a')).toBe(true);
    expect(makeGlobMatcher('dt=2026-11-2[6-7]/*')('dt=2026-11-28/a')).toBe(false);
  });

  it('skips dotfiles unless the glob names them', () => {
    expect(makeGlobMatcher('*.parquet')('.hidden.parquet')).toBe(false);
    expect(makeGlobMatcher('.*.parquet')('.hidden.parquet')).toBe(true);
  });
});
