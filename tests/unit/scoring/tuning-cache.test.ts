import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fileTuningCache } from '../../../services/scoring/auto-batch.js';
import type { BatchTuning } from '../../../services/scoring/batch-tuner.js';

const tuning = (rows: number): BatchTuning => ({
  rows,
  rowsPerSec: rows * 1_000,
  // Trials of different lengths make the entries' JSON differ in length, as real ones do.
  trials: Array.from({ length: 1 + (rows % 7) }, (_, i) => ({ rows: rows >> i, rowsPerSec: i })),
  stoppedBy: 'no-gain',
});

describe('the tuning cache file', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'quiver-tuning-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps every entry when one process sets many at once', async () => {
    const path = join(dir, 'tuning.json');
    const cache = fileTuningCache(path);
    await Promise.all(Array.from({ length: 24 }, (_, i) => cache.set(`key-${i}`, tuning(256 + i))));
    const all = JSON.parse(await readFile(path, 'utf8')) as Record<string, BatchTuning>;
    expect(Object.keys(all).sort()).toEqual(Array.from({ length: 24 }, (_, i) => `key-${i}`).sort());
    for (let i = 0; i < 24; i++) expect(await cache.get(`key-${i}`)).toEqual(tuning(256 + i));
  });

  it('never leaves a file that does not parse when two caches in one process share it', async () => {
    // Two workers in one process (the test pipeline, an embedded pool) open the same path.
    const path = join(dir, 'tuning.json');
    const a = fileTuningCache(path);
    const b = fileTuningCache(path);
    await Promise.all(
      Array.from({ length: 24 }, (_, i) => (i % 2 === 0 ? a : b).set(`key-${i}`, tuning(256 + i))),
    );
    const text = await readFile(path, 'utf8');
    expect(() => JSON.parse(text) as unknown).not.toThrow();
    expect(await a.get('key-0')).toEqual(tuning(256));
    expect(await b.get('key-1')).toEqual(tuning(257));
  });

  it('reads a damaged file as empty, and the next set replaces it', async () => {
    const path = join(dir, 'tuning.json');
    await writeFile(path, '{"a": 1}\n  "trailing": 2 }');
    const cache = fileTuningCache(path);
    expect(await cache.get('a')).toBeUndefined();
    await cache.set('k', tuning(512));
    expect(JSON.parse(await readFile(path, 'utf8'))).toEqual({ k: tuning(512) });
  });
});
