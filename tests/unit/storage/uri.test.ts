import path from 'node:path';

import { describe, expect, it } from 'vitest';

import { InvalidStorageUri } from '../../../jobs/ports/errors/invalid-storage-uri.js';
import { formatUri, joinUri, normalizeUri, parseUri } from '../../../jobs/ports/storage-uri.js';

describe('parseUri', () => {
  it('parses s3 URIs, keeping keys verbatim', () => {
    expect(parseUri('s3://events/dt=2026-11-27/part 1.parquet')).toEqual({
      scheme: 's3',
      bucket: 'events',
      key: 'dt=2026-11-27/part 1.parquet',
    });
    expect(parseUri('s3://events')).toEqual({ scheme: 's3', bucket: 'events', key: '' });
    expect(parseUri('s3://events/')).toEqual({ scheme: 's3', bucket: 'events', key: '' });
    expect(parseUri('S3://events/a')).toMatchObject({ bucket: 'events', key: 'a' });
  });

  it('parses file URIs, decoding them', () => {
    expect(parseUri('file:///data/in%20put/a.csv')).toEqual({ scheme: 'file', path: '/data/in put/a.csv' });
    expect(parseUri('file:///data/dir/')).toEqual({ scheme: 'file', path: '/data/dir/' });
  });

  it('turns plain paths into file locations', () => {
    expect(parseUri('/abs/x.parquet')).toEqual({ scheme: 'file', path: '/abs/x.parquet' });
    expect(parseUri('rel/x.parquet')).toEqual({ scheme: 'file', path: path.resolve('rel/x.parquet') });
    expect(parseUri('rel/dir/')).toEqual({ scheme: 'file', path: `${path.resolve('rel/dir')}/` });
  });

  it.each([
    ['', 'empty'],
    ['s3://', 'bad bucket'],
    ['s3://ab/key', 'bad bucket'],
    ['s3:/bucket/key', 'expected s3://'],
    ['gs://bucket/key', 'unsupported scheme'],
    ['file://remote-host/x', 'host'],
  ])('rejects %j with a reason naming the URI', (uri, reason) => {
    const attempt = (): unknown => parseUri(uri);
    expect(attempt).toThrow(InvalidStorageUri);
    expect(attempt).toThrow(reason);
    try {
      attempt();
    } catch (error) {
      expect(error).toMatchObject({ code: 'STORAGE_INVALID_URI', uri });
    }
  });
});

describe('formatUri / normalizeUri', () => {
  it('round-trips', () => {
    for (const uri of [
      's3://bucket/a/b.parquet',
      's3://bucket/',
      'file:///data/in%20put/a.csv',
      'file:///d/',
    ]) {
      expect(formatUri(parseUri(uri))).toBe(uri);
    }
  });

  it('normalises a plain path to a file URI', () => {
    expect(normalizeUri('/data/my file.csv')).toBe('file:///data/my%20file.csv');
  });
});

describe('joinUri', () => {
  it('joins under s3 prefixes with exactly one slash', () => {
    expect(joinUri('s3://scores/fraud/', 'job-1/part-00000.parquet')).toBe(
      's3://scores/fraud/job-1/part-00000.parquet',
    );
    expect(joinUri('s3://scores/fraud', '/job-1/_SUCCESS')).toBe('s3://scores/fraud/job-1/_SUCCESS');
    expect(joinUri('s3://scores', '_manifest.json')).toBe('s3://scores/_manifest.json');
    expect(joinUri('s3://scores/out/', 'job-1/')).toBe('s3://scores/out/job-1/');
  });

  it('joins under file directories, encoding the result', () => {
    expect(joinUri('file:///out/', 'job 1/part-0.parquet')).toBe('file:///out/job%201/part-0.parquet');
    expect(joinUri('/out', 'job-1/')).toBe('file:///out/job-1/');
  });

  it('refuses to climb out of the base', () => {
    expect(() => joinUri('s3://scores/out/', '../other/x')).toThrow(InvalidStorageUri);
  });
});
