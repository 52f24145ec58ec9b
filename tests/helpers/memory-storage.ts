import { StorageNotFound } from '../../jobs/ports/errors/storage-not-found.js';
import type {
  ByteRange,
  CallOptions,
  ObjectInfo,
  Storage,
  WriteBody,
  WriteOptions,
} from '../../jobs/ports/storage.js';

/**
 * An in-memory `Storage` over a map for format reader/writer unit tests, recording reads (so tests can
 * assert how much I/O a reader did) and the content types writes declared.
 */
export interface CountingMemoryStorage extends Storage {
  readonly objects: Map<string, Uint8Array>;
  /** Reads in order, with their ranges as requested (before clamping to the object's size). */
  readonly reads: Array<{ uri: string; range?: ByteRange }>;
  /** Content types passed to `write`, by URI. */
  readonly contentTypes: Map<string, string | undefined>;
  /** Bytes returned by all reads so far. */
  bytesRead(): number;
  resetCounts(): void;
}

export function makeMemoryStorage(initial: Record<string, Uint8Array | string> = {}): CountingMemoryStorage {
  const objects = new Map<string, Uint8Array>();
  for (const [uri, body] of Object.entries(initial)) {
    objects.set(uri, typeof body === 'string' ? new TextEncoder().encode(body) : body);
  }
  const reads: Array<{ uri: string; range?: ByteRange }> = [];
  const contentTypes = new Map<string, string | undefined>();
  let bytes = 0;
  const get = (uri: string): Uint8Array => {
    const body = objects.get(uri);
    if (body === undefined) throw new StorageNotFound(uri, 'key');
    return body;
  };
  const info = (uri: string, body: Uint8Array): ObjectInfo => ({
    uri,
    size: body.length,
    etag: `"${body.length}"`,
    lastModified: new Date(0),
  });
  return {
    objects,
    reads,
    contentTypes,
    bytesRead: () => bytes,
    resetCounts: () => {
      reads.length = 0;
      bytes = 0;
    },
    async *list(prefixUri: string) {
      await Promise.resolve();
      for (const uri of [...objects.keys()].sort()) if (uri.startsWith(prefixUri)) yield info(uri, get(uri));
    },
    stat: (uri: string) => Promise.resolve(info(uri, get(uri))),
    read: (uri: string, range?: ByteRange, options?: CallOptions) => {
      options?.signal?.throwIfAborted();
      const body = get(uri);
      const start = range?.start ?? 0;
      const end = Math.min(body.length, range?.end ?? body.length);
      reads.push(range === undefined ? { uri } : { uri, range: { ...range } });
      // A copy, as a network read would give: callers must not be able to alias the stored object.
      const out = body.slice(start, Math.max(start, end));
      bytes += out.length;
      return Promise.resolve(out);
    },
    write: async (uri: string, body: WriteBody, options?: WriteOptions) => {
      options?.signal?.throwIfAborted();
      contentTypes.set(uri, options?.contentType);
      if (body instanceof Uint8Array) objects.set(uri, body.slice());
      else {
        const parts: Uint8Array[] = [];
        for await (const part of body) parts.push(part);
        objects.set(uri, Buffer.concat(parts));
      }
    },
    delete: (uri: string) => {
      objects.delete(uri);
      return Promise.resolve();
    },
  };
}
