import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ObjectChanged } from '../../../jobs/ports/errors/object-changed.js';
import { makeFileStorage } from '../../../services/storage/file-storage.js';
import { pinnedStorage } from '../../../jobs/pinned-storage.js';
import type { Storage } from '../../../jobs/ports/storage.js';
import { fileUri } from '../../../jobs/ports/storage-uri.js';
import { startS3Server, type TestS3Server } from '../../helpers/s3-server.js';

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

describe('pinned reads: one version of every input object (INPUT_CHANGED)', () => {
  let s3: TestS3Server;
  let dir: string;
  const file = makeFileStorage();

  beforeAll(async () => {
    s3 = await startS3Server();
    await s3.createBucket('pinned');
    dir = await mkdtemp(join(tmpdir(), 'quiver-pinned-'));
  }, 60_000);

  afterAll(async () => {
    await s3?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const cases: Array<[string, () => { storage: Storage; uri: string }]> = [
    [
      's3:// (If-Match, and the ETag the server answers)',
      () => ({ storage: s3.storage, uri: 's3://pinned/a.csv' }),
    ],
    ['file:// (the open file’s size and mtime)', () => ({ storage: file, uri: fileUri(join(dir, 'a.csv')) })],
  ];

  it.each(cases)(
    '%s: reads the planned version, refuses another, and a deleted object',
    async (_name, make) => {
      const { storage, uri } = make();
      await storage.write(uri, bytes('id,x\n1,2\n'));
      const planned = await storage.stat(uri);
      const pinned = pinnedStorage(storage, [{ uri, etag: planned.etag, size: planned.size }]);
      expect(text(await pinned.read(uri, { start: 0, end: 4 }))).toBe('id,x');
      await pinned.verify(uri);

      // Rewritten with the same size: only the version tells them apart.
      await new Promise((r) => setTimeout(r, 5));
      await storage.write(uri, bytes('id,x\n3,4\n'));
      const now = await storage.stat(uri);
      expect(now.etag).not.toBe(planned.etag);
      const error = await pinned.read(uri, { start: 5, end: 8 }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(ObjectChanged);
      expect(error).toMatchObject({ code: 'INPUT_CHANGED', uri, planned: planned.etag, found: now.etag });
      expect((error as Error).message).toContain(uri);
      await expect(pinned.verify(uri)).rejects.toMatchObject({ code: 'INPUT_CHANGED', found: now.etag });
      await expect(pinned.stat(uri)).rejects.toBeInstanceOf(ObjectChanged);

      await storage.delete(uri);
      await expect(pinned.read(uri)).rejects.toMatchObject({ code: 'INPUT_CHANGED', found: undefined });
      await expect(pinned.verify(uri)).rejects.toMatchObject({ code: 'INPUT_CHANGED', found: undefined });
      // Objects that were not pinned read as they are.
      await storage.write(`${uri}.other`, bytes('free'));
      expect(text(await pinned.read(`${uri}.other`))).toBe('free');
    },
  );
});
