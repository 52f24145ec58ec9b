import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { InvalidConfig } from '../../../schemas/errors/invalid-config.js';
import { InvalidStorageUri } from '../../../jobs/ports/errors/invalid-storage-uri.js';
import { asyncBuffer, makeStorage, storageConfigFromEnv } from '../../../services/storage/make-storage.js';
import { countingStorage } from '../../helpers/counting-storage.js';
import { fileUri } from '../../../jobs/ports/storage-uri.js';
import { startS3Server, testS3Options, type TestS3Server } from '../../helpers/s3-server.js';

describe('storageConfigFromEnv', () => {
  it('reads the endpoint and path style, defaulting the region for custom endpoints', () => {
    expect(
      storageConfigFromEnv({ QUIVER_S3_ENDPOINT: 'http://minio:9000', QUIVER_S3_FORCE_PATH_STYLE: 'true' }),
    ).toEqual({ s3: { endpoint: 'http://minio:9000', forcePathStyle: true, region: 'us-east-1' } });
    expect(
      storageConfigFromEnv({ QUIVER_S3_ENDPOINT: 'http://minio:9000', AWS_REGION: 'eu-west-1' }),
    ).toEqual({
      s3: { endpoint: 'http://minio:9000' },
    });
    expect(storageConfigFromEnv({})).toEqual({ s3: {} });
  });

  it('names the variable when a value is unusable', () => {
    expect(() => storageConfigFromEnv({ QUIVER_S3_FORCE_PATH_STYLE: 'yes' })).toThrow(
      /QUIVER_S3_FORCE_PATH_STYLE/,
    );
    expect(() => storageConfigFromEnv({ QUIVER_S3_ENDPOINT: 'minio:9000' })).toThrow(InvalidConfig);
  });
});

describe('makeStorage', () => {
  let s3: TestS3Server;
  let root: string;

  beforeAll(async () => {
    s3 = await startS3Server();
    await s3.createBucket('dispatch');
    root = await mkdtemp(path.join(os.tmpdir(), 'quiver-make-storage-'));
  });
  afterAll(async () => {
    await s3.close();
    await rm(root, { recursive: true, force: true });
  });

  it('dispatches by scheme, plain paths included', async () => {
    const storage = makeStorage({ s3: testS3Options(s3.endpoint) });
    try {
      const bytes = new TextEncoder().encode('same bytes, two stores');
      await storage.write('s3://dispatch/a.txt', bytes);
      await storage.write(path.join(root, 'a.txt'), bytes);
      expect(await storage.read('s3://dispatch/a.txt')).toEqual(bytes);
      expect(await storage.read(fileUri(path.join(root, 'a.txt')))).toEqual(bytes);
      await expect(storage.stat('gs://x/y')).rejects.toBeInstanceOf(InvalidStorageUri);
    } finally {
      storage.close();
      storage.close();
    }
  });

  it('serves footer-style reads through asyncBuffer, counted', async () => {
    const blob = randomBytes(50_000);
    await s3.storage.write('s3://dispatch/file.parquet', blob);
    const counted = countingStorage(s3.storage);
    const info = await counted.stat('s3://dispatch/file.parquet');
    const buffer = asyncBuffer(counted, info);
    expect(buffer.byteLength).toBe(blob.length);
    const tail = await buffer.slice(blob.length - 8);
    expect(Buffer.from(tail).equals(blob.subarray(blob.length - 8))).toBe(true);
    const middle = await buffer.slice(100, 4_196);
    expect(Buffer.from(middle).equals(blob.subarray(100, 4_196))).toBe(true);
    expect(counted.counts).toMatchObject({ stat: 1, read: 2, bytesRead: 8 + 4_096 });
    expect(counted.counts.reads.map((read) => read.range)).toEqual([
      { start: blob.length - 8, end: blob.length },
      { start: 100, end: 4_196 },
    ]);
    counted.resetCounts();
    expect(counted.counts.read).toBe(0);
  });
});
