import { ObjectChanged } from './ports/errors/object-changed.js';
import { StorageNotFound } from './ports/errors/storage-not-found.js';
import type { CallOptions, ObjectInfo, Storage } from './ports/storage.js';

/** An object at the version planning saw. */
export interface PinnedVersion {
  uri: string;
  etag?: string;
  size: number;
}

export interface PinnedStorage extends Storage {
  /**
   * Checks that `uri` is still the pinned version (one `stat`). Readers that hand a local file to a native
   * decoder (DuckDB reads Parquet in place) bypass `read`; this closes that gap after the part is read.
   */
  verify(uri: string, options?: CallOptions): Promise<void>;
}

/**
 * A storage whose reads of the pinned objects return that version's bytes or throw `ObjectChanged`
 * (`INPUT_CHANGED`): a job reads each input object at the version planning saw (DESIGN invariant 8).
 * Other objects pass through unchanged.
 */
export function pinnedStorage(inner: Storage, versions: readonly PinnedVersion[]): PinnedStorage {
  const pinned = new Map(versions.map((v) => [v.uri, v]));
  const versionOf = (v: PinnedVersion): string => v.etag ?? `size ${v.size}`;
  const check = (v: PinnedVersion, info: ObjectInfo): void => {
    if ((v.etag !== undefined && info.etag !== v.etag) || info.size !== v.size)
      throw new ObjectChanged(v.uri, versionOf(v), info.etag);
  };
  const gone = (v: PinnedVersion, error: unknown): never => {
    if (error instanceof StorageNotFound)
      throw new ObjectChanged(v.uri, versionOf(v), undefined, { cause: error });
    throw error;
  };
  return {
    list: (prefixUri, options) => inner.list(prefixUri, options),
    async stat(uri, options) {
      const v = pinned.get(uri);
      const info = await (v
        ? inner.stat(uri, options).catch((e: unknown) => gone(v, e))
        : inner.stat(uri, options));
      if (v) check(v, info);
      return info;
    },
    async read(uri, range, options = {}) {
      const v = pinned.get(uri);
      if (!v?.etag) return inner.read(uri, range, options);
      return inner.read(uri, range, { ...options, ifMatch: v.etag }).catch((e: unknown) => gone(v, e));
    },
    write: (uri, body, options) => inner.write(uri, body, options),
    delete: (uri, options) => inner.delete(uri, options),
    async verify(uri, options) {
      const v = pinned.get(uri);
      if (v) check(v, await inner.stat(uri, options).catch((e: unknown) => gone(v, e)));
    },
  };
}
