import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { StorageAccessDenied } from '../../../jobs/ports/errors/storage-access-denied.js';
import { StorageNotFound } from '../../../jobs/ports/errors/storage-not-found.js';
import { makeFileStorage } from '../../../services/storage/file-storage.js';
import type { ObjectInfo } from '../../../jobs/ports/storage.js';
import { fileUri } from '../../../jobs/ports/storage-uri.js';

async function collect(iterable: AsyncIterable<ObjectInfo>): Promise<string[]> {
  const out: string[] = [];
  for await (const item of iterable) out.push(item.uri);
  return out;
}

describe('file storage', () => {
  const storage = makeFileStorage({ retry: { baseDelayMs: 1, maxDelayMs: 5 } });
  let root: string;
  const uriOf = (relative: string): string => fileUri(path.join(root, relative));

  beforeEach(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'quiver-file-storage-'));
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('lists recursively in byte order of the full path, as S3 would', async () => {
    for (const name of ['b.parquet', 'a-b', 'a/x', 'a/y/z', 'A', 'dir with space/ü.csv', '_SUCCESS']) {
      await storage.write(uriOf(name), new TextEncoder().encode(name));
    }
    const listed = await collect(storage.list(fileUri(root)));
    const expected = ['A', '_SUCCESS', 'a-b', 'a/x', 'a/y/z', 'b.parquet', 'dir with space/ü.csv']
      .sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)))
      .map(uriOf);
    expect(listed).toEqual(expected);
    expect(await collect(storage.list(`${fileUri(root)}/a/`))).toEqual([uriOf('a/x'), uriOf('a/y/z')]);
  });

  it('filters with a glob relative to the prefix, and lists a missing directory as empty', async () => {
    for (const name of [
      'dt=1/part-0.parquet',
      'dt=1/part-1.parquet',
      'dt=2/part-0.parquet',
      'dt=2/_SUCCESS',
    ]) {
      await storage.write(uriOf(name), new Uint8Array([1]));
    }
    expect(await collect(storage.list(root, { glob: 'dt=*/*.parquet' }))).toHaveLength(3);
    expect(await collect(storage.list(root, { glob: 'dt=2/*' }))).toEqual([
      uriOf('dt=2/_SUCCESS'),
      uriOf('dt=2/part-0.parquet'),
    ]);
    expect(await collect(storage.list(uriOf('nope/')))).toEqual([]);
  });

  it('stats size and an etag that changes when the file does', async () => {
    const uri = uriOf('x.bin');
    await storage.write(uri, new Uint8Array(10));
    const first = await storage.stat(uri);
    expect(first).toMatchObject({ uri, size: 10 });
    await new Promise((resolve) => setTimeout(resolve, 5));
    await storage.write(uri, new Uint8Array(10));
    const second = await storage.stat(uri);
    expect(second.etag).not.toBe(first.etag);
  });

  it('reads ranges exactly, clamping the end', async () => {
    const blob = randomBytes(100_000);
    const uri = uriOf('blob.bin');
    await storage.write(uri, blob);
    expect(Buffer.from(await storage.read(uri, { start: 10, end: 20 })).equals(blob.subarray(10, 20))).toBe(
      true,
    );
    expect(
      Buffer.from(await storage.read(uri, { start: 99_990, end: 200_000 })).equals(blob.subarray(99_990)),
    ).toBe(true);
    expect(await storage.read(uri, { start: 200_000, end: 200_010 })).toHaveLength(0);
    expect(Buffer.from(await storage.read(uri)).equals(blob)).toBe(true);
  });

  it('reads into a caller buffer when one is given and large enough', async () => {
    const blob = randomBytes(10_000);
    const uri = uriOf('into.bin');
    await storage.write(uri, blob);
    const into = new Uint8Array(4_096);
    const view = await storage.read(uri, { start: 100, end: 4_000 }, { into });
    expect(view.buffer).toBe(into.buffer);
    expect(Buffer.from(view).equals(blob.subarray(100, 4_000))).toBe(true);
    const fresh = await storage.read(uri, { start: 0, end: 5_000 }, { into });
    expect(fresh.buffer).not.toBe(into.buffer);
    expect(Buffer.from(fresh).equals(blob.subarray(0, 5_000))).toBe(true);
  });

  it('maps a missing file to StorageNotFound naming the URI, and deleting it is fine', async () => {
    const uri = uriOf('missing.bin');
    const error: unknown = await storage.read(uri).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(StorageNotFound);
    expect(error).toMatchObject({ code: 'STORAGE_NOT_FOUND', uri });
    expect((error as Error).message).toContain(uri);
    await expect(storage.stat(uri)).rejects.toBeInstanceOf(StorageNotFound);
    await expect(storage.delete(uri)).resolves.toBeUndefined();
  });

  it.skipIf(process.getuid?.() === 0)('maps EACCES to StorageAccessDenied', async () => {
    const uri = uriOf('locked/x.bin');
    await storage.write(uri, new Uint8Array(1));
    await chmod(path.join(root, 'locked'), 0o000);
    try {
      await expect(storage.read(uri)).rejects.toBeInstanceOf(StorageAccessDenied);
    } finally {
      await chmod(path.join(root, 'locked'), 0o755);
    }
  });

  it('writes streams via a temp file and leaves none behind, even when the stream fails', async () => {
    const uri = uriOf('out/deep/part-00000.parquet');
    await storage.write(
      uri,
      (async function* () {
        yield new Uint8Array([1, 2]);
        await new Promise((resolve) => setImmediate(resolve));
        yield new Uint8Array([3]);
      })(),
    );
    expect(Array.from(await storage.read(uri))).toEqual([1, 2, 3]);
    const failing = (async function* () {
      yield new Uint8Array([9, 9, 9]);
      await new Promise((resolve) => setImmediate(resolve));
      throw new Error('upstream broke');
    })();
    await expect(storage.write(uri, failing)).rejects.toThrow('upstream broke');
    // The old content survives a failed overwrite, and no temp file is left.
    expect(Array.from(await storage.read(uri))).toEqual([1, 2, 3]);
    expect(await readdir(path.join(root, 'out/deep'))).toEqual(['part-00000.parquet']);
  });

  it('hides temp files of in-flight writes from list', async () => {
    await mkdir(path.join(root, 'd'));
    await writeFile(path.join(root, 'd', '.x.parquet.quiver-tmp-0123456789abcdef'), 'half');
    await storage.write(uriOf('d/y'), new Uint8Array([1]));
    expect(await collect(storage.list(root))).toEqual([uriOf('d/y')]);
  });

  it('never shows a concurrent reader half a file', async () => {
    const uri = uriOf('flip.bin');
    const versions = [new Uint8Array(1 << 20).fill(0x61), new Uint8Array(768 << 10).fill(0x62)];
    await storage.write(uri, versions[0] as Uint8Array);
    let writing = true;
    let reads = 0;
    const reader = (async () => {
      while (writing) {
        const bytes = await storage.read(uri);
        reads += 1;
        const first = bytes[0];
        const whole = versions.find((version) => version[0] === first);
        expect(whole).toBeDefined();
        expect(bytes.length).toBe(whole?.length);
        expect(bytes.indexOf(first === 0x61 ? 0x62 : 0x61)).toBe(-1);
      }
    })();
    for (let round = 0; round < 10; round += 1) {
      const version = versions[round % 2] as Uint8Array;
      // Stream in small chunks so a non-atomic write would be visible half-done.
      await storage.write(
        uri,
        (async function* () {
          for (let offset = 0; offset < version.length; offset += 64 * 1024) {
            yield version.subarray(offset, offset + 64 * 1024);
            await new Promise((resolve) => setImmediate(resolve));
          }
        })(),
      );
    }
    writing = false;
    await reader;
    expect(reads).toBeGreaterThan(3);
    expect(await readdir(root)).toEqual(['flip.bin']);
  });

  it('honours an aborted signal', async () => {
    await expect(storage.read(uriOf('x'), undefined, { signal: AbortSignal.abort() })).rejects.toMatchObject({
      name: 'AbortError',
    });
  });
});
