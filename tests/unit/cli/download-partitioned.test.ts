import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobResults } from '../../../schemas/api.js';
import { downloadResults } from '../../../services/cli/download-results.js';
import { fakeFetch } from './fixtures.js';

/**
 * `quiver results --download` of a partitioned output: one segment's files share a name across partitions,
 * so each lands in its Hive folder (as escaped in the store), never over another.
 */
describe('downloadResults with output.partitionBy', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'quiver-download-partitioned-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps every part in its key=value folder', async () => {
    const root = 's3://scores/daily';
    const files = [
      { partition: { dt: 'a/b' }, uri: `${root}/dt=a%2Fb/part-00000-abcdefabcdef.parquet`, body: 'first' },
      {
        partition: { dt: null },
        uri: `${root}/dt=__HIVE_DEFAULT_PARTITION__/part-00000-abcdefabcdef.parquet`,
        body: 'second!',
      },
    ];
    const sha = (text: string) => createHash('sha256').update(text).digest('hex');
    const parts = files.map((f) => ({
      index: 0,
      uri: f.uri,
      rows: 1,
      bytes: f.body.length,
      sha256: sha(f.body),
      partition: f.partition,
    }));
    const results: JobResults = {
      jobId: 'job-1',
      manifestUri: `${root}/_manifest.json`,
      manifest: {
        jobId: 'job-1',
        specDigest: 'a'.repeat(64),
        format: 'parquet',
        root,
        inputRows: 2,
        rowsScored: 2,
        rowsRejected: 0,
        layout: 'exact',
        partitionBy: ['dt'],
        parts,
        rejected: [],
        timings: { scoringSeconds: 1, createdAt: '2026-11-28T00:00:00Z', finishedAt: '2026-11-28T00:00:01Z' },
      },
      parts: parts.map((p, i) => ({ ...p, url: `https://s3.test/p${i}` })),
      rejected: [],
    };
    const fetch = fakeFetch((url) => new Response(files[Number(url.pathname.slice(2))]!.body));
    const out = join(dir, 'out');
    const done = await downloadResults(results, out, { fetch: fetch.impl });
    expect(done.map((f) => f.path.slice(out.length + 1)).sort()).toEqual([
      '_manifest.json',
      'dt=__HIVE_DEFAULT_PARTITION__/part-00000-abcdefabcdef.parquet',
      'dt=a%2Fb/part-00000-abcdefabcdef.parquet',
    ]);
    expect(await readFile(join(out, 'dt=a%2Fb/part-00000-abcdefabcdef.parquet'), 'utf8')).toBe('first');
    expect(
      await readFile(join(out, 'dt=__HIVE_DEFAULT_PARTITION__/part-00000-abcdefabcdef.parquet'), 'utf8'),
    ).toBe('second!');
  });
});
