import type { Storage } from '../services/storage/storage.js';

/**
 * The commit markers (chunk or segment JSON files) under `prefix` written for the spec with this digest;
 * markers a different spec left in the same folder are ignored.
 */
export async function readCommitMarkers<T extends { specDigest: string }>(
  storage: Storage,
  prefix: string,
  specDigest: string,
  signal?: AbortSignal,
): Promise<T[]> {
  const markers: T[] = [];
  for await (const object of storage.list(prefix, { signal })) {
    const marker = JSON.parse(
      new TextDecoder().decode(await storage.read(object.uri, undefined, { signal })),
    ) as T;
    if (marker.specDigest === specDigest) markers.push(marker);
  }
  return markers;
}
