import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobResults } from '../../../schemas/api.js';
import { downloadResults, fileNameOf } from '../../../services/cli/download-results.js';
import { createHash } from 'node:crypto';
import { DownloadChecksumMismatch } from '../../../services/cli/errors/download-checksum-mismatch.js';
import { DownloadFailed } from '../../../services/cli/errors/download-failed.js';
import { DownloadSizeMismatch } from '../../../services/cli/errors/download-size-mismatch.js';
import { fakeFetch } from './fixtures.js';

function results(
  parts: JobResults['parts'],
  bytes: number[],
  rejected: JobResults['rejected'] = [],
): JobResults {
  return {
    jobId: 'job-1',
    manifestUri: 's3://scores/job-1/_manifest.json',
    manifest: {
      jobId: 'job-1',
      specDigest: 'a'.repeat(64),
      format: 'parquet',
      root: 's3://scores/job-1/',
      inputRows: 30,
      rowsScored: 30,
      rowsRejected: 0,
      parts: parts.map((p, i) => ({ index: p.index, uri: p.uri, rows: p.rows, bytes: bytes[i] ?? 0 })),
      rejected: rejected.map((r) => ({ index: r.index, uri: r.uri, rows: r.rows })),
      timings: { scoringSeconds: 1, createdAt: '2026-11-28T00:00:00Z', finishedAt: '2026-11-28T00:00:01Z' },
    },
    parts,
    rejected,
  };
}

describe('downloadResults', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'quiver-download-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('fetches presigned URLs and copies file:// parts, then writes the manifest', async () => {
    const source = join(dir, 'part-00001.parquet');
    await writeFile(source, 'file-part');
    const fetch = fakeFetch(() => new Response('url-part-0'));
    const out = join(dir, 'out');
    const files = await downloadResults(
      results(
        [
          {
            index: 0,
            uri: 's3://scores/job-1/part-00000.parquet',
            rows: 10,
            url: 'https://s3.test/p0?sig=x',
          },
          { index: 1, uri: pathToFileURL(source).href, rows: 20 },
        ],
        [10, 9],
        [
          {
            index: 0,
            uri: 's3://scores/job-1/rejected/rejected-00000.jsonl',
            rows: 1,
            url: 'https://s3.test/r0',
          },
        ],
      ),
      out,
      { fetch: fetch.impl },
    );
    expect(files.map((f) => f.path.slice(out.length + 1)).sort()).toEqual([
      '_manifest.json',
      'part-00000.parquet',
      'part-00001.parquet',
      'rejected/rejected-00000.jsonl',
    ]);
    expect(await readFile(join(out, 'part-00000.parquet'), 'utf8')).toBe('url-part-0');
    expect(await readFile(join(out, 'part-00001.parquet'), 'utf8')).toBe('file-part');
    expect(JSON.parse(await readFile(join(out, '_manifest.json'), 'utf8'))).toMatchObject({ jobId: 'job-1' });
  });

  it('refuses a part whose size differs from the manifest, leaving no partial file and no manifest', async () => {
    const out = join(dir, 'short');
    const fetch = fakeFetch(() => new Response('short'));
    const attempt = downloadResults(
      results([{ index: 0, uri: 's3://b/j/part-00000.parquet', rows: 1, url: 'https://s3.test/p0' }], [100]),
      out,
      { fetch: fetch.impl },
    );
    await expect(attempt).rejects.toBeInstanceOf(DownloadSizeMismatch);
    await expect(attempt).rejects.toThrow('got 5 bytes, the manifest records 100');
    expect(await readdir(out)).toEqual([]);
  });

  it('verifies each file against the SHA-256 its manifest records, by URI (a chunk may have several parts)', async () => {
    const sha = (text: string) => createHash('sha256').update(text).digest('hex');
    const body = new Map([
      ['https://s3.test/a', 'segment-a'],
      ['https://s3.test/b', 'segment-b'],
    ]);
    const fetch = fakeFetch((url) => new Response(body.get(String(url)) ?? ''));
    const twoSegments = (shaOfB: string): JobResults => {
      const r = results(
        [
          { index: 0, uri: 's3://scores/job-1/part-00000-x.parquet', rows: 1, url: 'https://s3.test/a' },
          { index: 0, uri: 's3://scores/job-1/part-00000-x-r1.parquet', rows: 1, url: 'https://s3.test/b' },
        ],
        [9, 9],
      );
      r.manifest.parts[0]!.sha256 = sha('segment-a');
      r.manifest.parts[1]!.sha256 = shaOfB;
      return r;
    };
    const good = join(dir, 'sha-good');
    expect(await downloadResults(twoSegments(sha('segment-b')), good, { fetch: fetch.impl })).toHaveLength(3);
    expect(await readFile(join(good, 'part-00000-x-r1.parquet'), 'utf8')).toBe('segment-b');

    const bad = join(dir, 'sha-bad');
    const attempt = downloadResults(twoSegments(sha('something else')), bad, { fetch: fetch.impl });
    await expect(attempt).rejects.toBeInstanceOf(DownloadChecksumMismatch);
    await expect(attempt).rejects.toThrow(`got sha256 ${sha('segment-b')}`);
    expect((await readdir(bad)).filter((f) => f.includes('-r1'))).toEqual([]);
  });

  it('names what cannot be fetched: an error answer, an s3:// part without URL, a missing file', async () => {
    const fetch = fakeFetch(() => new Response('denied', { status: 403 }));
    await expect(
      downloadResults(
        results([{ index: 0, uri: 's3://b/p', rows: 1, url: 'https://s3.test/p' }], [1]),
        join(dir, 'a'),
        {
          fetch: fetch.impl,
        },
      ),
    ).rejects.toThrow(/DOWNLOAD_FAILED: s3:\/\/b\/p: its URL answered HTTP 403/);
    await expect(
      downloadResults(results([{ index: 0, uri: 's3://b/p', rows: 1 }], [1]), join(dir, 'b')),
    ).rejects.toThrow(/no URL to fetch it from/);
    await expect(
      downloadResults(
        results([{ index: 0, uri: 'file:///nowhere/part-0.parquet', rows: 1 }], [1]),
        join(dir, 'c'),
      ),
    ).rejects.toBeInstanceOf(DownloadFailed);
  });

  it('keeps file names to the last URI segment', () => {
    expect(fileNameOf('s3://b/j/part-00003.parquet', 'x')).toBe('part-00003.parquet');
    expect(fileNameOf('file:///a/b%20c.csv', 'x')).toBe('b c.csv');
    expect(fileNameOf('s3://b/j/..', 'fallback')).toBe('fallback');
    expect(fileNameOf('s3://b/', 'fallback')).toBe('fallback');
  });
});
