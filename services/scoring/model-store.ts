import { createHash, randomUUID } from 'node:crypto';
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Storage } from '../storage/storage.js';
import { ModelDigestMismatch } from './errors/model-digest-mismatch.js';

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
  /** Folder of the content-addressed cache (`<sha256>.onnx` files). */
  cacheDir: string;
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
 * With a pinned `sha256` already in the cache nothing is fetched. The cache file is written under a temp
 * name and renamed, so concurrent workers never load half a model, and its name is the digest of its
 * bytes, so a model replaced at the same URI can never be mistaken for the old one.
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
    if (await exists(cached)) return { uri, path: cached, sha256: pinned, bytes: (await stat(cached)).size };
  }
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
