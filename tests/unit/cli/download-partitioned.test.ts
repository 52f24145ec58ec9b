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

  const sha = (text: string) => createHash('sha256').update(text).digest('hex');

  /** The results of an `exact`-layout job whose parts are `files`, each with its manifest entry's extras. */
  function resultsOf(
    root: string,
    files: Array<{ uri: string; body: string; partition?: Record<string, string | null>; model?: string }>,
    partitionBy?: string[],
  ): JobResults {
    const parts = files.map((f) => ({
      index: 0,
      uri: f.uri,
      rows: 1,
      bytes: f.body.length,
      sha256: sha(f.body),
      ...(f.partition ? { partition: f.partition } : {}),
      ...(f.model ? { model: f.model } : {}),
    }));
    return {
      jobId: 'job-1',
      manifestUri: `${root}/_manifest.json`,
      manifest: {
        jobId: 'job-1',
        specDigest: 'a'.repeat(64),
        format: 'parquet',
        root,
        inputRows: files.length,
        rowsScored: files.length,
        rowsRejected: 0,
        layout: 'exact',
        ...(partitionBy ? { partitionBy } : {}),
        parts,
        rejected: [],
        timings: { scoringSeconds: 1, createdAt: '2026-11-28T00:00:00Z', finishedAt: '2026-11-28T00:00:01Z' },
      },
      parts: parts.map((p, i) => ({ ...p, url: `https://s3.test/p${i}` })),
      rejected: [],
    };
  }

  async function download(name: string, files: Array<{ body: string }>, results: JobResults) {
    const fetch = fakeFetch((url) => new Response(files[Number(url.pathname.slice(2))]!.body));
    const out = join(dir, name);
    const done = await downloadResults(results, out, { fetch: fetch.impl });
    return { out, paths: done.map((f) => f.path.slice(out.length + 1)).sort() };
  }

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
    const { out, paths } = await download('out', files, resultsOf(root, files, ['dt']));
    expect(paths).toEqual([
      '_manifest.json',
      'dt=__HIVE_DEFAULT_PARTITION__/part-00000-abcdefabcdef.parquet',
      'dt=a%2Fb/part-00000-abcdefabcdef.parquet',
    ]);
    expect(await readFile(join(out, 'dt=a%2Fb/part-00000-abcdefabcdef.parquet'), 'utf8')).toBe('first');
    expect(
      await readFile(join(out, 'dt=__HIVE_DEFAULT_PARTITION__/part-00000-abcdefabcdef.parquet'), 'utf8'),
    ).toBe('second!');
  });

  it('keeps each model\'s part of output.challengers "parts" in its model=<name>/ folder, partitions below', async () => {
    const root = 's3://scores/ab';
    const files = [
      { model: 'champion', uri: `${root}/model=champion/part-00000-abcdefabcdef.parquet`, body: 'champ' },
      { model: 'v4', uri: `${root}/model=v4/part-00000-abcdefabcdef.parquet`, body: 'challenger' },
    ];
    const flat = await download('models', files, resultsOf(root, files));
    expect(flat.paths).toEqual([
      '_manifest.json',
      'model=champion/part-00000-abcdefabcdef.parquet',
      'model=v4/part-00000-abcdefabcdef.parquet',
    ]);
    expect(await readFile(join(flat.out, 'model=v4/part-00000-abcdefabcdef.parquet'), 'utf8')).toBe(
      'challenger',
    );
    const nested = files.map((f) => ({
      ...f,
      partition: { dt: '2026-11-28' },
      uri: f.uri.replace('/part-', '/dt=2026-11-28/part-'),
    }));
    const both = await download('nested', nested, resultsOf(root, nested, ['dt']));
    expect(both.paths).toEqual([
      '_manifest.json',
      'model=champion/dt=2026-11-28/part-00000-abcdefabcdef.parquet',
      'model=v4/dt=2026-11-28/part-00000-abcdefabcdef.parquet',
    ]);
  });
});
