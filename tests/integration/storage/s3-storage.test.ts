import { randomBytes } from 'node:crypto';

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { IncompleteRead } from '../../../jobs/ports/errors/incomplete-read.js';
import { StorageNotFound } from '../../../jobs/ports/errors/storage-not-found.js';
import { StorageUnavailable } from '../../../jobs/ports/errors/storage-unavailable.js';
import type { S3Storage } from '../../../services/storage/s3-storage.js';
import type { ObjectInfo } from '../../../jobs/ports/storage.js';
import { startFaultProxy, type FaultProxy, type FaultProxyOptions } from '../../helpers/fault-proxy.js';
import { makeTestS3Storage, startS3Server, type TestS3Server } from '../../helpers/s3-server.js';

const MiB = 1024 * 1024;
const bucket = 'storage-it';
/** Fast retries: the faults are real, the waits need not be. */
const fastRetry = { maxAttempts: 12, baseDelayMs: 1, maxDelayMs: 10 };

async function collect(iterable: AsyncIterable<ObjectInfo>): Promise<ObjectInfo[]> {
  const out: ObjectInfo[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

async function* chunked(bytes: Uint8Array, sizes: number[]): AsyncGenerator<Uint8Array> {
  let offset = 0;
  for (let index = 0; offset < bytes.length; index += 1) {
    const size = sizes[index % sizes.length] ?? 1;
    yield bytes.subarray(offset, Math.min(offset + size, bytes.length));
    offset += size;
    // Let other work run between chunks, as a real stream would.
    await new Promise((resolve) => setImmediate(resolve));
  }
}

describe('S3 storage against a real S3-protocol server', () => {
  let s3: TestS3Server;
  let proxy: FaultProxy | undefined;
  let proxied: S3Storage | undefined;

  /** Storage that reaches the server through a fresh fault proxy; both are closed after the test. */
  async function throughProxy(
    faults: Omit<FaultProxyOptions, 'target'>,
    retry: object = fastRetry,
    extra: object = {},
  ): Promise<{ storage: S3Storage; proxy: FaultProxy }> {
    proxy = await startFaultProxy({ target: s3.endpoint, ...faults });
    proxied = makeTestS3Storage(proxy.endpoint, { retry, ...extra });
    return { storage: proxied, proxy };
  }

  beforeAll(async () => {
    s3 = await startS3Server();
    await s3.createBucket(bucket);
  });
  afterEach(async () => {
    proxied?.close();
    proxied = undefined;
    await proxy?.close();
    proxy = undefined;
  });
  afterAll(async () => {
    await s3.close();
  });

  it('reads a range into a caller buffer when one is given and large enough, also through faults', async () => {
    const blob = new Uint8Array(3 * MiB).map((_, i) => (i * 31) & 0xff);
    const uri = `s3://${bucket}/into/blob.bin`;
    await s3.storage.write(uri, blob);
    const into = new Uint8Array(2 * MiB);
    const { storage } = await throughProxy({ rates: { reset: 0.3, truncate: 0.3 }, seed: 7 });
    for (let round = 0; round < 4; round++) {
      const start = round * 500_000;
      const view = await storage.read(uri, { start, end: start + MiB }, { into });
      expect(view.buffer).toBe(into.buffer);
      expect(Buffer.from(view).equals(Buffer.from(blob.subarray(start, start + MiB)))).toBe(true);
    }
    const fresh = await storage.read(uri, { start: 0, end: 3 * MiB }, { into });
    expect(fresh.buffer).not.toBe(into.buffer);
    expect(fresh).toHaveLength(3 * MiB);
  });

  describe('list', () => {
    const keys = Array.from(
      { length: 23 },
      (_, index) => `list/dt=${index % 3}/part-${String(index).padStart(3, '0')}.parquet`,
    );

    beforeAll(async () => {
      await Promise.all(
        [...keys, 'list/dt=0/_SUCCESS', 'list/readme.txt', 'list-b/x.parquet'].map((key) =>
          s3.storage.write(`s3://${bucket}/${key}`, new TextEncoder().encode(key)),
        ),
      );
    });

    it('pages through every object in lexicographic order', async () => {
      const { storage, proxy: counting } = await throughProxy({}, fastRetry, { listPageSize: 7 });
      const listed = await collect(storage.list(`s3://${bucket}/list/`));
      const expected = [...keys, 'list/dt=0/_SUCCESS', 'list/readme.txt'].map(
        (key) => `s3://${bucket}/${key}`,
      );
      expect(listed.map((object) => object.uri)).toEqual([...expected].sort());
      // 25 objects at 7 a page.
      expect(counting.requestCount).toBe(4);
      const first = listed[0];
      expect(first?.size).toBeGreaterThan(0);
      expect(first?.etag).toMatch(/^[0-9a-f]{32}$/);
    });

    it('pages past 1000 keys at the default page size', async () => {
      const many = Array.from({ length: 1_005 }, (_, index) => `many/${String(index).padStart(5, '0')}`);
      for (let offset = 0; offset < many.length; offset += 100) {
        await Promise.all(
          many
            .slice(offset, offset + 100)
            .map((key) => s3.storage.write(`s3://${bucket}/${key}`, new Uint8Array(1))),
        );
      }
      const listed = await collect(s3.storage.list(`s3://${bucket}/many/`));
      expect(listed.map((object) => object.uri)).toEqual(many.map((key) => `s3://${bucket}/${key}`));
    });

    it('filters with a glob relative to the prefix', async () => {
      const parquet = await collect(s3.storage.list(`s3://${bucket}/list/`, { glob: '**/*.parquet' }));
      expect(parquet).toHaveLength(keys.length);
      const dt1 = await collect(s3.storage.list(`s3://${bucket}/list`, { glob: 'dt=1/*' }));
      expect(dt1.map((object) => object.uri)).toEqual(
        keys.filter((key) => key.startsWith('list/dt=1/')).map((key) => `s3://${bucket}/${key}`),
      );
    });

    it('lists an empty prefix as nothing, and a missing bucket as StorageNotFound', async () => {
      expect(await collect(s3.storage.list(`s3://${bucket}/nothing-here/`))).toEqual([]);
      await expect(collect(s3.storage.list('s3://no-such-bucket/x/'))).rejects.toMatchObject({
        code: 'STORAGE_NOT_FOUND',
        missing: 'bucket',
      });
    });
  });

  describe('stat and read', () => {
    const uri = `s3://${bucket}/data/blob.bin`;
    const blob = randomBytes(256 * 1024);

    beforeAll(async () => {
      await s3.storage.write(uri, blob);
    });

    it('stats size and an etag that agrees with list', async () => {
      const info = await s3.storage.stat(uri);
      expect(info).toMatchObject({ uri, size: blob.length });
      const [listed] = await collect(s3.storage.list(`s3://${bucket}/data/`));
      expect(listed?.etag).toBe(info.etag);
      expect(info.lastModified).toBeInstanceOf(Date);
    });

    it('returns exactly the bytes of each range, clamping the end', async () => {
      const ranges: [number, number][] = [
        [0, 1],
        [0, 8],
        [1000, 70_000],
        [blob.length - 8, blob.length],
        [blob.length - 8, blob.length + 1000],
        [12_345, 12_346],
      ];
      for (const [start, end] of ranges) {
        const bytes = await s3.storage.read(uri, { start, end });
        expect(Buffer.from(bytes).equals(blob.subarray(start, Math.min(end, blob.length)))).toBe(true);
      }
      expect(await s3.storage.read(uri, { start: 10, end: 10 })).toHaveLength(0);
      expect(await s3.storage.read(uri, { start: blob.length + 5, end: blob.length + 10 })).toHaveLength(0);
      expect(Buffer.from(await s3.storage.read(uri)).equals(blob)).toBe(true);
    });

    it('reads exact bytes through 503s, resets and mid-body drops (seeded, ~30% of requests)', async () => {
      const { storage, proxy: faulty } = await throughProxy({
        seed: 42,
        rates: { status503: 0.1, reset: 0.05, truncate: 0.15 },
      });
      for (let index = 0; index < 60; index += 1) {
        const start = (index * 4099) % (blob.length - 1);
        const end = Math.min(blob.length, start + 1 + ((index * 7919) % 40_000));
        const bytes = await storage.read(uri, { start, end });
        expect(Buffer.from(bytes).equals(blob.subarray(start, end))).toBe(true);
      }
      const whole = await storage.read(uri);
      expect(Buffer.from(whole).equals(blob)).toBe(true);
      expect(faulty.faultCount('status')).toBeGreaterThan(0);
      expect(faulty.faultCount('reset')).toBeGreaterThan(0);
      expect(faulty.faultCount('truncate')).toBeGreaterThan(0);
    });

    it('retries a body cut short even at its last bytes', async () => {
      const { storage, proxy: faulty } = await throughProxy({
        script: [{ kind: 'truncate', fraction: 0.999 }],
      });
      const bytes = await storage.read(uri, { start: 0, end: 100_000 });
      expect(Buffer.from(bytes).equals(blob.subarray(0, 100_000))).toBe(true);
      expect(faulty.requestCount).toBe(2);
    });

    it('retries a body that ends cleanly but short (no Content-Length, chunked)', async () => {
      const retried: unknown[] = [];
      const { storage, proxy: faulty } = await throughProxy(
        { script: [{ kind: 'truncate', fraction: 0.5, clean: true }] },
        { ...fastRetry, onRetry: (event: { error: unknown }) => retried.push(event.error) },
      );
      const bytes = await storage.read(uri, { start: 5, end: 60_005 });
      expect(Buffer.from(bytes).equals(blob.subarray(5, 60_005))).toBe(true);
      expect(faulty.requestCount).toBe(2);
      expect(retried).toEqual([expect.any(IncompleteRead)]);
      expect(retried[0]).toMatchObject({ expectedBytes: 60_000, receivedBytes: 30_000 });
    });

    it.each([
      ['a missing key', `s3://${bucket}/data/missing.bin`, 'key'],
      ['a missing bucket', 's3://no-such-bucket/data/blob.bin', 'bucket'],
    ])('reports %s as StorageNotFound after one request', async (_label, missingUri, missing) => {
      const { storage, proxy: counting } = await throughProxy({});
      const error: unknown = await storage
        .read(missingUri, { start: 0, end: 10 })
        .catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(StorageNotFound);
      expect(error).toMatchObject({ code: 'STORAGE_NOT_FOUND', uri: missingUri, missing });
      expect((error as Error).message).toContain(missingUri);
      expect((error as Error).message).toContain(
        missing === 'bucket' ? 'bucket does not exist' : 'no object',
      );
      expect(counting.requestCount).toBe(1);
    });

    it('reports a missing object on stat after one request', async () => {
      const { storage, proxy: counting } = await throughProxy({});
      await expect(storage.stat(`s3://${bucket}/data/missing.bin`)).rejects.toBeInstanceOf(StorageNotFound);
      expect(counting.requestCount).toBe(1);
    });

    it('gives up with StorageUnavailable after maxAttempts when throttling never stops', async () => {
      const { storage, proxy: faulty } = await throughProxy(
        { rates: { status503: 1 } },
        { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 5 },
      );
      const error: unknown = await storage.read(uri).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(StorageUnavailable);
      expect(error).toMatchObject({ uri, attempts: 3, cause: { name: 'SlowDown' } });
      expect(faulty.requestCount).toBe(3);
    });

    it('aborts a backoff wait promptly', async () => {
      const { storage, proxy: faulty } = await throughProxy(
        { rates: { status503: 1 } },
        { maxAttempts: 5, baseDelayMs: 30_000, maxDelayMs: 30_000, random: () => 0.99 },
      );
      const controller = new AbortController();
      const started = performance.now();
      const pending = storage.read(uri, undefined, { signal: controller.signal });
      // Abort once the first 503 has come back and the 30 s wait has begun.
      while (faulty.requestCount === 0) await new Promise((resolve) => setTimeout(resolve, 5));
      await new Promise((resolve) => setTimeout(resolve, 50));
      controller.abort();
      await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
      expect(performance.now() - started).toBeLessThan(2_000);
      expect(faulty.requestCount).toBe(1);
    });

    it('aborts a request in flight', async () => {
      const { storage } = await throughProxy({ script: [{ kind: 'delay', ms: 5_000 }] });
      const controller = new AbortController();
      const started = performance.now();
      const pending = storage.read(uri, undefined, { signal: controller.signal });
      setTimeout(() => controller.abort(), 50);
      await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
      expect(performance.now() - started).toBeLessThan(2_000);
    });
  });

  describe('write', () => {
    it('uploads a streaming body over 5 MiB in parts and reads it back byte-exact', async () => {
      const body = randomBytes(12 * MiB + 12_345);
      const uri = `s3://${bucket}/multipart/big.bin`;
      const { storage, proxy: counting } = await throughProxy({}, fastRetry, { partSizeBytes: 5 * MiB });
      // Odd chunk sizes so parts straddle chunk boundaries.
      await storage.write(uri, chunked(body, [65_536, 1_000_003, 7]), {
        contentType: 'application/octet-stream',
      });
      const methods = counting.requests.map(
        (request) => `${request.method} ${request.url.includes('uploadId') ? 'part' : ''}`,
      );
      // Create, three parts, complete.
      expect(methods).toEqual(['POST ', 'PUT part', 'PUT part', 'PUT part', 'POST part']);
      expect((await s3.storage.stat(uri)).size).toBe(body.length);
      expect(Buffer.from(await s3.storage.read(uri)).equals(body)).toBe(true);
    });

    it('survives faults on parts', async () => {
      const body = randomBytes(11 * MiB);
      const uri = `s3://${bucket}/multipart/faulty.bin`;
      const { storage, proxy: faulty } = await throughProxy(
        { seed: 7, rates: { status503: 0.2, reset: 0.1 } },
        fastRetry,
        { partSizeBytes: 5 * MiB },
      );
      await storage.write(uri, body);
      expect(faulty.faultCount('pass')).toBeLessThan(faulty.requestCount);
      expect(Buffer.from(await s3.storage.read(uri)).equals(body)).toBe(true);
    });

    it('aborts the multipart upload when a part fails for good', async () => {
      const uri = `s3://${bucket}/multipart/failed.bin`;
      const { storage, proxy: faulty } = await throughProxy(
        { script: [{ kind: 'pass' }, { kind: 'status', status: 400, code: 'InvalidArgument' }] },
        fastRetry,
        { partSizeBytes: 5 * MiB },
      );
      await expect(storage.write(uri, chunked(randomBytes(6 * MiB), [MiB]))).rejects.toMatchObject({
        name: 'InvalidArgument',
      });
      expect(faulty.requests.map((request) => request.method)).toEqual(['POST', 'PUT', 'DELETE']);
      await expect(s3.storage.stat(uri)).rejects.toBeInstanceOf(StorageNotFound);
    });

    it('writes small bodies with one PUT, streaming or not, and overwrites', async () => {
      const uri = `s3://${bucket}/small/x.json`;
      const { storage, proxy: counting } = await throughProxy({});
      await storage.write(uri, chunked(new TextEncoder().encode('{"v":1}'), [3]));
      await storage.write(uri, new TextEncoder().encode('{"v":2}'), { contentType: 'application/json' });
      await storage.write(`s3://${bucket}/small/empty`, chunked(new Uint8Array(0), [1]));
      expect(counting.requests.map((request) => request.method)).toEqual(['PUT', 'PUT', 'PUT']);
      expect(new TextDecoder().decode(await s3.storage.read(uri))).toBe('{"v":2}');
      expect((await s3.storage.stat(`s3://${bucket}/small/empty`)).size).toBe(0);
    });

    it('deletes, and deleting a missing key is fine', async () => {
      const uri = `s3://${bucket}/small/delete-me`;
      await s3.storage.write(uri, new Uint8Array([1, 2, 3]));
      await s3.storage.delete(uri);
      await s3.storage.delete(uri);
      await expect(s3.storage.stat(uri)).rejects.toBeInstanceOf(StorageNotFound);
    });
  });
});
