import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobErrorOf } from '../../../jobs/job-error.js';
import { isPermanent } from '../../../schemas/errors/quiver-error.js';
import { ModelTooLarge } from '../../../services/scoring/errors/model-too-large.js';
import { DEFAULT_MAX_MODEL_BYTES, fetchModel } from '../../../services/scoring/model-store.js';
import { makeScorerPool } from '../../../services/scoring/scorer-pool.js';
import { makeMemoryStorage } from '../../helpers/memory-storage.js';

const URI = 's3://models/huge.onnx';

describe('model size limit', () => {
  let cacheDir: string;

  beforeAll(async () => {
    cacheDir = await mkdtemp(join(tmpdir(), 'quiver-model-limit-'));
  });

  afterAll(async () => {
    await rm(cacheDir, { recursive: true, force: true });
  });

  /** A store whose one model `stat`s at `size` bytes, counting reads (which serve a few bytes). */
  const sized = (size: number) => {
    const storage = makeMemoryStorage({ [URI]: new Uint8Array([8, 1, 2]) });
    const stat = storage.stat.bind(storage);
    storage.stat = async (uri, options) => ({ ...(await stat(uri, options)), size });
    return storage;
  };

  it('defaults to 2 GiB: a larger object is MODEL_TOO_LARGE from its stat, before any byte is read', async () => {
    expect(DEFAULT_MAX_MODEL_BYTES).toBe(2 * 1024 ** 3);
    const storage = sized(DEFAULT_MAX_MODEL_BYTES + 1);
    const error = await fetchModel(storage, URI, { cacheDir }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModelTooLarge);
    expect(error).toMatchObject({
      code: 'MODEL_TOO_LARGE',
      uri: URI,
      bytes: DEFAULT_MAX_MODEL_BYTES + 1,
      maxModelBytes: DEFAULT_MAX_MODEL_BYTES,
    });
    expect((error as Error).message).toBe(
      `MODEL_TOO_LARGE: ${URI} is 2147483649 bytes, over the 2147483648-byte limit (QUIVER_MAX_MODEL_BYTES)`,
    );
    expect(storage.reads).toEqual([]);
    expect(isPermanent(error)).toBe(true);
    expect(jobErrorOf(error)).toMatchObject({ code: 'MODEL_TOO_LARGE', uri: URI });

    // At the limit itself the model is fetched.
    const atLimit = sized(DEFAULT_MAX_MODEL_BYTES);
    await fetchModel(atLimit, URI, { cacheDir });
    expect(atLimit.reads).toHaveLength(1);
  });

  it('takes the scorer pool’s maxModelBytes, at planning and when a chunk opens the model', async () => {
    const storage = makeMemoryStorage({ [URI]: new Uint8Array(11) });
    const pool = makeScorerPool({ storage, cacheDir, maxModelBytes: 10 });
    try {
      await expect(pool.resolve({ uri: URI })).rejects.toMatchObject({
        code: 'MODEL_TOO_LARGE',
        bytes: 11,
        maxModelBytes: 10,
      });
      await expect(pool.acquire({ uri: URI }, 'a'.repeat(64))).rejects.toBeInstanceOf(ModelTooLarge);
      expect(storage.reads).toEqual([]);
    } finally {
      await pool.close();
    }
  });
});
