import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { modelPath } from '../../../scripts/lib/models.js';
import { ModelChanged } from '../../../jobs/errors/model-changed.js';
import { ModelDigestMismatch } from '../../../services/scoring/errors/model-digest-mismatch.js';
import { makeScorerPool, sharedThreads } from '../../../services/scoring/scorer-pool.js';
import { countingStorage } from '../../helpers/counting-storage.js';
import { makeFileStorage } from '../../../services/storage/file-storage.js';
import { StorageForbidden } from '../../../services/tenancy/errors/storage-forbidden.js';
import { grantedStorage, makeGrantChecker } from '../../../services/tenancy/storage-grants.js';
import { fileUri } from '../../../jobs/ports/storage-uri.js';

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('scorer pool: one session per model digest, bounded', () => {
  const storage = makeFileStorage();
  let dir: string;
  let mlp: Uint8Array;
  let tree: Uint8Array;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'quiver-pool-'));
    mlp = await readFile(await modelPath('tabular-mlp'));
    tree = await readFile(await modelPath('tree-ensemble'));
  }, 120_000);

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const spec = (uri: string, pin?: string) => ({ uri, ...(pin ? { sha256: pin } : {}) });

  it('shares a session between URIs serving the same bytes, and closes idle ones beyond the bound', async () => {
    const a = fileUri(join(dir, 'a.onnx'));
    const copy = fileUri(join(dir, 'copy.onnx'));
    const b = fileUri(join(dir, 'b.onnx'));
    await storage.write(a, mlp);
    await storage.write(copy, mlp);
    await storage.write(b, tree);
    const pool = makeScorerPool({
      storage,
      cacheDir: join(dir, 'cache-1'),
      maxOpenModels: 1,
      intraOpThreads: 1,
    });
    try {
      expect(await pool.resolve(spec(a))).toBe(sha256(mlp));
      const first = await pool.acquire(spec(a), undefined);
      const shared = await pool.acquire(spec(copy), sha256(mlp));
      expect(shared.host).toBe(first.host);
      expect(pool.size).toBe(1);
      // In use, the first model is not closed: the pool holds two until it is released.
      const other = await pool.acquire(spec(b), undefined);
      expect(other.model.sha256).toBe(sha256(tree));
      expect(pool.size).toBe(2);
      first.release();
      first.release(); // twice is harmless
      expect(pool.size).toBe(2);
      shared.release();
      expect(pool.size).toBe(1);
      other.release();
      // Opened again after eviction: a new session for the same digest.
      const again = await pool.acquire(spec(a), sha256(mlp));
      expect(again.host).not.toBe(first.host);
      again.release();
      expect(pool.size).toBe(1);
    } finally {
      await pool.close();
    }
  });

  it('names MODEL_CHANGED when the URI serves other bytes, even to a worker that has the planned ones', async () => {
    const uri = fileUri(join(dir, 'replaced.onnx'));
    await storage.write(uri, mlp);
    const planned = sha256(mlp);
    const warm = makeScorerPool({ storage, cacheDir: join(dir, 'cache-warm'), intraOpThreads: 1 });
    const cold = makeScorerPool({ storage, cacheDir: join(dir, 'cache-cold'), intraOpThreads: 1 });
    try {
      expect(await warm.resolve(spec(uri))).toBe(planned);
      const open = await warm.acquire(spec(uri), planned);
      open.release();
      await storage.write(uri, tree);
      // Neither an open session nor the cached file stands in for what the URI serves now.
      for (const pool of [warm, cold]) {
        const error = await pool.acquire(spec(uri), planned).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(ModelChanged);
        expect(error).toMatchObject({ code: 'MODEL_CHANGED', uri, planned, found: sha256(tree) });
      }
      // A digest pinned by the spec itself keeps its own code.
      await expect(
        makeScorerPool({ storage, cacheDir: join(dir, 'cache-pinned') }).acquire(spec(uri, planned), planned),
      ).rejects.toBeInstanceOf(ModelDigestMismatch);
      expect(cold.size).toBe(0);
    } finally {
      await warm.close();
      await cold.close();
    }
  });

  it('serves a cached model only through the tenant grants, with the URI still of its size', async () => {
    const uri = fileUri(join(dir, 'granted', 'm.onnx'));
    await storage.write(uri, mlp);
    const digest = sha256(mlp);
    const counting = countingStorage(storage);
    const pool = makeScorerPool({
      storage: counting,
      cacheDir: join(dir, 'cache-grants'),
      intraOpThreads: 1,
    });
    try {
      (await pool.acquire(spec(uri), digest)).release();
      // The same bytes uploaded again (another mtime): a stat, no second download.
      await storage.write(uri, mlp);
      counting.resetCounts();
      (await pool.acquire(spec(uri), digest)).release();
      expect(counting.counts).toMatchObject({ stat: 1, read: 0 });
      // Another tenant naming the digest (and the URI) without a read grant gets nothing, open session or not.
      const outsider = grantedStorage(
        counting,
        makeGrantChecker({
          read: [fileUri(join(dir, 'elsewhere/'))],
          write: [],
          open: false,
        }),
      );
      await expect(pool.acquire(spec(uri, digest), digest, undefined, outsider)).rejects.toBeInstanceOf(
        StorageForbidden,
      );
      const granted = grantedStorage(
        counting,
        makeGrantChecker({
          read: [fileUri(join(dir, 'granted/'))],
          write: [],
          open: false,
        }),
      );
      (await pool.acquire(spec(uri, digest), digest, undefined, granted)).release();
    } finally {
      await pool.close();
    }
  });

  it('opens a model scored beside challengers as its own session, with the threads divided among them', async () => {
    const uri = fileUri(join(dir, 'side-by-side.onnx'));
    await storage.write(uri, mlp);
    const pool = makeScorerPool({ storage, cacheDir: join(dir, 'cache-share'), intraOpThreads: 4 });
    try {
      const alone = await pool.acquire(spec(uri), undefined);
      const champion = await pool.acquire(spec(uri), undefined, undefined, undefined, { sideBySide: 2 });
      const challenger = await pool.acquire(spec(uri), undefined, undefined, undefined, { sideBySide: 2 });
      const single = await pool.acquire(spec(uri), undefined, undefined, undefined, { sideBySide: 1 });
      // Alone (or sideBySide 1) is the pool's 4-thread session; beside one other, a shared 2-thread one.
      expect(single.host).toBe(alone.host);
      expect(champion.host).not.toBe(alone.host);
      expect(challenger.host).toBe(champion.host);
      expect(pool.size).toBe(2);
      for (const lease of [alone, champion, challenger, single]) lease.release();
    } finally {
      await pool.close();
    }
  });
});

describe('sharedThreads', () => {
  it('divides the intra-op threads among the sessions side by side, at least one each', () => {
    expect(sharedThreads(4)).toBeUndefined();
    expect(sharedThreads(4, 1)).toBeUndefined();
    expect(sharedThreads(4, 2)).toBe(2);
    expect(sharedThreads(16, 3)).toBe(5);
    expect(sharedThreads(2, 5)).toBe(1);
    expect(() => sharedThreads(4, 0)).toThrow(/sideBySide must be a positive integer, got 0/);
    expect(() => sharedThreads(4, 1.5)).toThrow(RangeError);
  });
});
