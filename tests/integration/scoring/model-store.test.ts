import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelDigestMismatch } from '../../../services/scoring/errors/model-digest-mismatch.js';
import { fetchModel } from '../../../services/scoring/model-store.js';
import { countingStorage } from '../../helpers/counting-storage.js';
import { modelPath } from '../../../scripts/lib/models.js';
import { startS3Server, type TestS3Server } from '../../helpers/s3-server.js';

describe('fetchModel', () => {
  let s3: TestS3Server;
  let cacheDir: string;
  let bytes: Buffer;
  let digest: string;

  beforeAll(async () => {
    s3 = await startS3Server();
    await s3.createBucket('models');
    bytes = await readFile(await modelPath('tabular-mlp'));
    digest = createHash('sha256').update(bytes).digest('hex');
    await s3.storage.write('s3://models/fraud/v3.onnx', bytes);
    cacheDir = await mkdtemp(join(tmpdir(), 'quiver-models-'));
  });

  afterAll(async () => {
    await s3?.close();
    await rm(cacheDir, { recursive: true, force: true });
  });

  it('fetches into a cache named by the digest, and a pinned digest already cached costs no fetch', async () => {
    const storage = countingStorage(s3.storage);
    const first = await fetchModel(storage, 's3://models/fraud/v3.onnx', {
      cacheDir,
      sha256: digest.toUpperCase(),
    });
    expect(first).toMatchObject({
      sha256: digest,
      bytes: bytes.byteLength,
      path: join(cacheDir, `${digest}.onnx`),
    });
    expect(Buffer.compare(await readFile(first.path), bytes)).toBe(0);
    expect(storage.counts.read).toBe(1);
    const again = await fetchModel(storage, 's3://models/fraud/v3.onnx', { cacheDir, sha256: digest });
    expect(again.path).toBe(first.path);
    expect(storage.counts.read).toBe(1);
    expect((await readdir(cacheDir)).filter((f) => f.includes('partial'))).toEqual([]);
  });

  it('refuses a model whose bytes do not match the pinned digest, naming both', async () => {
    const wrong = '0'.repeat(64);
    const error = await fetchModel(s3.storage, 's3://models/fraud/v3.onnx', {
      cacheDir,
      sha256: wrong,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModelDigestMismatch);
    expect((error as ModelDigestMismatch).message).toContain(digest);
    expect((error as ModelDigestMismatch).message).toContain(wrong);
    expect((await readdir(cacheDir)).some((f) => f.startsWith(wrong))).toBe(false);
  });
});
