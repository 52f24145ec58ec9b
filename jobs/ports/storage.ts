/** Metadata of one stored object. */
export interface ObjectInfo {
  /** Full URI: `s3://bucket/key` or `file:///abs/path`. */
  uri: string;
  size: number;
  /** Entity tag (S3) or a size+mtime fingerprint (file://); changes when the object changes. */
  etag: string;
  lastModified: Date;
}

export interface CallOptions {
  /** Aborts the call, its retries and its backoff waits. */
  signal?: AbortSignal;
}

export interface ListOptions extends CallOptions {
  /**
   * Glob matched against the key/path relative to the listed prefix (`*` within a path segment, `**` across
   * segments, `?`, `{a,b}`). Absent: every object under the prefix.
   */
  glob?: string;
}

/** A byte range `[start, end)`; `end` is exclusive and clamped to the object's size. */
export interface ByteRange {
  start: number;
  end: number;
}

export interface ReadOptions extends CallOptions {
  /**
   * A buffer the read may fill and return a view of, instead of allocating one: for callers that read many
   * large ranges (Parquet staging), reusing a few buffers saves the allocation, the page faults of fresh
   * memory and the garbage collection. Used only when it is large enough; the returned view is valid until
   * the caller reuses the buffer. Implementations may ignore it.
   */
  into?: Uint8Array;
  /**
   * Read only this version of the object (its `ObjectInfo.etag`): if the object changed, the read throws
   * `ObjectChanged` instead of returning the other version's bytes (s3://: `If-Match` plus a check of the
   * ETag answered; file://: the open file's size+mtime).
   */
  ifMatch?: string;
}

export type WriteBody = Uint8Array | AsyncIterable<Uint8Array>;

export interface WriteOptions extends CallOptions {
  contentType?: string;
}

/**
 * One interface over `s3://` and `file://`. Every method retries transient failures (throttling, 5xx,
 * timeouts, connection resets) with jittered backoff, and throws a `StorageError` subclass naming the URI.
 */
export interface Storage {
  /** Objects under a prefix (a "directory" URI or a key prefix), in lexicographic key order. */
  list(prefixUri: string, options?: ListOptions): AsyncIterable<ObjectInfo>;
  stat(uri: string, options?: CallOptions): Promise<ObjectInfo>;
  /** Reads the whole object, or the given range of it. */
  read(uri: string, range?: ByteRange, options?: ReadOptions): Promise<Uint8Array>;
  /**
   * Writes an object atomically: readers see the old object or the whole new one, never half of it
   * (file://: temp file + rename; s3://: single PUT or multipart upload completed at the end).
   */
  write(uri: string, body: WriteBody, options?: WriteOptions): Promise<void>;
  delete(uri: string, options?: CallOptions): Promise<void>;
}

/** A random-access view of one object, as hyparquet's `AsyncBuffer`: planning reads only what it needs. */
export interface AsyncBuffer {
  byteLength: number;
  slice(start: number, end?: number): Promise<ArrayBuffer>;
}
