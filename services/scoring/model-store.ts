import { createHash, randomUUID } from 'node:crypto';
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Storage } from '../../jobs/ports/storage.js';
import { ModelDigestMismatch } from './errors/model-digest-mismatch.js';
import { ModelTooLarge } from './errors/model-too-large.js';

/** Largest model a worker fetches unless told otherwise: 2 GiB. */
export const DEFAULT_MAX_MODEL_BYTES = 2 * 1024 ** 3;

/** A model fetched into the local cache, named by its content. */
export interface CachedModel {
  uri: string;
  /** Local file ONNX Runtime loads. */
  path: string;
  sha256: string;
  bytes: number;
}

export interface FetchModelOptions {
  /** Refuse the model unless its bytes hash to this (lowercase hex). */
  sha256?: string;
  /**
   * What a `stat` of `uri` found just now (through the tenant's grants). A cached copy of the pinned digest
   * is used only when its size matches it, so a digest alone never stands in for reading the URI; absent,
   * the cache is trusted as it is (planning, tests).
   */
  source?: { size: number };
  /** Folder of the content-addressed cache (`<sha256>.onnx` files). */
  cacheDir: string;
  /**
   * Largest model fetched (default 2 GiB, `QUIVER_MAX_MODEL_BYTES`): a larger object throws `ModelTooLarge`
   * from its size (`source`, else a `stat`), before any byte is read.
   */
  maxModelBytes?: number;
  signal?: AbortSignal;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/**
 * Fetches a model from any storage URI into a content-addressed local cache and verifies its digest.
 * With a pinned `sha256` already in the cache (and, given `source`, the URI's object of that size) nothing
 * is fetched. The cache file is written under a temp name and renamed, so concurrent workers never load
 * half a model, and its name is the digest of its bytes, so a model replaced at the same URI can never be
 * mistaken for the old one.
 */
export async function fetchModel(
  storage: Storage,
  uri: string,
  options: FetchModelOptions,
): Promise<CachedModel> {
  await mkdir(options.cacheDir, { recursive: true });
  const pinned = options.sha256?.toLowerCase();
  if (pinned) {
    const cached = join(options.cacheDir, `${pinned}.onnx`);
    if (await exists(cached)) {
      const bytes = (await stat(cached)).size;
      if (options.source === undefined || options.source.size === bytes)
        return { uri, path: cached, sha256: pinned, bytes };
    }
  }
  // The whole model is held in memory to hash it: its size is checked before any byte is read.
  const maxBytes = options.maxModelBytes ?? DEFAULT_MAX_MODEL_BYTES;
  const size = options.source?.size ?? (await storage.stat(uri, { signal: options.signal })).size;
  if (size > maxBytes) throw new ModelTooLarge(uri, size, maxBytes);
  const bytes = await storage.read(uri, undefined, { signal: options.signal });
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  if (pinned && sha256 !== pinned) throw new ModelDigestMismatch(uri, pinned, sha256);
  const path = join(options.cacheDir, `${sha256}.onnx`);
  if (!(await exists(path))) {
    const partial = `${path}.${randomUUID()}.partial`;
    try {
      await writeFile(partial, bytes);
      await rename(partial, path);
    } finally {
      await rm(partial, { force: true });
    }
  }
  return { uri, path, sha256, bytes: bytes.byteLength };
}
