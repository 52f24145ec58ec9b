import { describe, expect, it } from 'vitest';
import { isUnderRoot } from '../../../services/api/manifest-under-root.js';

describe('isUnderRoot', () => {
  const root = 's3://scores/fraud/0f6a3c8e-9a53-4b1e-8f3e-2b7c1d9e4a10/';

  it('accepts what finalize writes: plain names under the root, in s3:// and file:// roots alike', () => {
    expect(isUnderRoot(`${root}part-00000-a1b2.parquet`, root)).toBe(true);
    expect(isUnderRoot(`${root}rejected/part-00003-a1b2-r000000001024.jsonl`, root)).toBe(true);
    // A root without its trailing slash names the same folder.
    expect(isUnderRoot(`${root}part-00000.parquet`, root.slice(0, -1))).toBe(true);
    const local = 'file:///srv/my%20data/out/job/';
    expect(isUnderRoot(`${local}part-00000.csv`, local)).toBe(true);
  });

  it.each([
    ['another bucket', 's3://other-bucket/secret.parquet'],
    ['a sibling prefix sharing the text', `${root.slice(0, -1)}0/part-00000.parquet`],
    ['the root itself', root],
    ['a `..` climb', `${root}../other/part.parquet`],
    ['a `..` deeper down', `${root}rejected/../../x.parquet`],
    ['a `.` segment', `${root}./part.parquet`],
    ['an empty segment', `${root}rejected//part.parquet`],
    ['a percent-encoded `..`', `${root}%2e%2E/part.parquet`],
    ['an encoded slash', `${root}a%2F..%2Fb.parquet`],
    ['an encoded backslash', `${root}..%5Cb.parquet`],
    ['broken percent-encoding', `${root}%E0%A4%A.parquet`],
    ['another scheme', `${root.replace('s3://', 'file:///')}part.parquet`],
  ])('refuses %s', (_name, uri) => {
    expect(isUnderRoot(uri, root)).toBe(false);
  });
});
