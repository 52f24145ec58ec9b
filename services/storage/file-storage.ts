import { randomBytes } from 'node:crypto';
import type { Dirent, Stats, BigIntStats } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';

import { StorageAccessDenied } from '../../jobs/ports/errors/storage-access-denied.js';
import { StorageError } from '../../jobs/ports/errors/storage-error.js';
import { StorageNotFound } from '../../jobs/ports/errors/storage-not-found.js';
import { InvalidStorageUri } from '../../jobs/ports/errors/invalid-storage-uri.js';
import { ObjectChanged } from '../../jobs/ports/errors/object-changed.js';
import { makeGlobMatcher } from './glob.js';
import { abortError, resolveRetryPolicy, withRetry, type RetryOptions, type RetryPolicy } from './retry.js';
import type {
  ByteRange,
  CallOptions,
  ReadOptions,
  ListOptions,
  ObjectInfo,
  Storage,
  WriteBody,
  WriteOptions,
} from '../../jobs/ports/storage.js';
import { fileUri, parseUri } from '../../jobs/ports/storage-uri.js';

export interface FileStorageOptions {
  /** Retries of transient local failures (EMFILE, EBUSY, NFS timeouts). Defaults as `resolveRetryPolicy`. */
  retry?: RetryOptions;
}

// Temp files of in-flight writes: hidden, next to their target (so rename stays on one file system), and
// skipped by `list` so a planner never picks up half an object.
const tempSuffix = '.quiver-tmp-';
const tempPattern = /^\..+\.quiver-tmp-[0-9a-f]{16}$/;

/** Storage over `file:///abs/path` URIs (plain paths are accepted too). */
export function makeFileStorage(options: FileStorageOptions = {}): Storage {
  const policy = resolveRetryPolicy(options.retry);
  return {
    list: (prefixUri, listOptions) => listFiles(policy, prefixUri, listOptions),
    stat: (uri, callOptions) => statFile(policy, uri, callOptions),
    read: (uri, range, callOptions) => readFile(policy, uri, range, callOptions),
    write: (uri, body, writeOptions) => writeFile(policy, uri, body, writeOptions),
    delete: (uri, callOptions) => deleteFile(policy, uri, callOptions),
  };
}

function localPath(uri: string): string {
  const location = parseUri(uri);
  if (location.scheme !== 'file')
    throw new InvalidStorageUri(uri, 'file storage needs a file:// URI or a path');
  return location.path;
}

/** Maps Node's file-system errors onto the storage error classes; anything else passes through. */
export function mapFileError(error: unknown, uri: string): unknown {
  if (error instanceof StorageError || !(error instanceof Error)) return error;
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return new StorageNotFound(uri, 'file', { cause: error });
  if (code === 'EACCES' || code === 'EPERM') return new StorageAccessDenied(uri, { cause: error });
  return error;
}

function retrying<T>(
  policy: RetryPolicy,
  uri: string,
  signal: AbortSignal | undefined,
  operation: () => Promise<T>,
): Promise<T> {
  return withRetry(policy, { uri, signal, mapError: (error) => mapFileError(error, uri) }, operation);
}

/** Size + nanosecond mtime: changes on any rewrite that a reader could observe, without hashing content. */
function fingerprint(stats: BigIntStats): string {
  return `${stats.size.toString(16)}-${stats.mtimeNs.toString(16)}`;
}

function objectInfo(filePath: string, stats: BigIntStats): ObjectInfo {
  return {
    uri: fileUri(filePath),
    size: Number(stats.size),
    etag: fingerprint(stats),
    lastModified: stats.mtime,
  };
}

async function statFile(policy: RetryPolicy, uri: string, options: CallOptions = {}): Promise<ObjectInfo> {
  const filePath = localPath(uri);
  const stats = await retrying(policy, uri, options.signal, () => fs.stat(filePath, { bigint: true }));
  if (!stats.isFile()) throw new StorageNotFound(uri, 'file', { cause: new Error('not a regular file') });
  return objectInfo(filePath, stats);
}

async function* listFiles(
  policy: RetryPolicy,
  prefixUri: string,
  options: ListOptions = {},
): AsyncGenerator<ObjectInfo> {
  const root = localPath(prefixUri);
  const matches = options.glob === undefined ? undefined : makeGlobMatcher(options.glob);
  const { signal } = options;
  let rootStats: Stats;
  try {
    rootStats = await retrying(policy, prefixUri, signal, () => fs.stat(root));
  } catch (error) {
    // An absent prefix lists as empty, as an S3 prefix with no objects does.
    if (error instanceof StorageNotFound) return;
    throw error;
  }
  if (rootStats.isFile()) {
    if (matches === undefined || matches(path.basename(root)))
      yield await statFile(policy, fileUri(root), options);
    return;
  }
  yield* walk(policy, root, '', matches, signal);
}

/**
 * Depth-first walk in byte order of the full relative path. Directories sort as `name/`, so `a/x` comes
 * after `a-b` (`-` < `/`), exactly where S3 would list it.
 */
async function* walk(
  policy: RetryPolicy,
  directory: string,
  relativeDir: string,
  matches: ((relativePath: string) => boolean) | undefined,
  signal: AbortSignal | undefined,
): AsyncGenerator<ObjectInfo> {
  const directoryUri = fileUri(directory + path.sep);
  let entries: Dirent[];
  try {
    entries = await retrying(policy, directoryUri, signal, () =>
      fs.readdir(directory, { withFileTypes: true }),
    );
  } catch (error) {
    // Deleted while we walked: nothing under it any more.
    if (error instanceof StorageNotFound) return;
    throw error;
  }
  const keyed: { entry: Dirent; isDirectory: boolean; sortKey: Buffer }[] = [];
  for (const entry of entries) {
    if (tempPattern.test(entry.name)) continue;
    let isDirectory = entry.isDirectory();
    if (entry.isSymbolicLink()) {
      const target = await fs.stat(path.join(directory, entry.name)).catch(() => undefined);
      if (target === undefined) continue;
      isDirectory = target.isDirectory();
    } else if (!isDirectory && !entry.isFile()) {
      continue;
    }
    keyed.push({ entry, isDirectory, sortKey: Buffer.from(isDirectory ? `${entry.name}/` : entry.name) });
  }
  keyed.sort((a, b) => Buffer.compare(a.sortKey, b.sortKey));
  for (const { entry, isDirectory } of keyed) {
    if (signal?.aborted) throw abortError(signal);
    const fullPath = path.join(directory, entry.name);
    const relativePath = relativeDir === '' ? entry.name : `${relativeDir}/${entry.name}`;
    if (isDirectory) {
      yield* walk(policy, fullPath, relativePath, matches, signal);
      continue;
    }
    if (matches !== undefined && !matches(relativePath)) continue;
    const uri = fileUri(fullPath);
    try {
      const stats = await retrying(policy, uri, signal, () => fs.stat(fullPath, { bigint: true }));
      yield objectInfo(fullPath, stats);
    } catch (error) {
      if (error instanceof StorageNotFound) continue;
      throw error;
    }
  }
}

async function readFile(
  policy: RetryPolicy,
  uri: string,
  range: ByteRange | undefined,
  options: ReadOptions = {},
): Promise<Uint8Array> {
  const filePath = localPath(uri);
  return retrying(policy, uri, options.signal, async () => {
    const handle = await fs.open(filePath, 'r');
    try {
      // The open file's own stat: what is checked is exactly what is read, even if it is replaced meanwhile.
      const stats = await handle.stat({ bigint: true });
      if (options.ifMatch !== undefined && fingerprint(stats) !== options.ifMatch)
        throw new ObjectChanged(uri, options.ifMatch, fingerprint(stats));
      const size = Number(stats.size);
      const start = Math.min(range?.start ?? 0, size);
      const end = Math.max(start, Math.min(range?.end ?? size, size));
      const into = options.into;
      const bytes =
        into !== undefined && into.length >= end - start
          ? into.subarray(0, end - start)
          : new Uint8Array(end - start);
      let filled = 0;
      while (filled < bytes.length) {
        if (options.signal?.aborted) throw abortError(options.signal);
        const { bytesRead } = await handle.read(bytes, filled, bytes.length - filled, start + filled);
        // Truncated under us: what remains is gone, so hand back what the file now holds.
        if (bytesRead === 0) return bytes.subarray(0, filled);
        filled += bytesRead;
      }
      return bytes;
    } finally {
      await handle.close();
    }
  });
}

async function writeFile(
  policy: RetryPolicy,
  uri: string,
  body: WriteBody,
  options: WriteOptions = {},
): Promise<void> {
  const filePath = localPath(uri);
  const { signal } = options;
  const directory = path.dirname(filePath);
  const tempPath = path.join(
    directory,
    `.${path.basename(filePath)}${tempSuffix}${randomBytes(8).toString('hex')}`,
  );
  try {
    await retrying(policy, uri, signal, () => fs.mkdir(directory, { recursive: true }));
    const handle = await fs.open(tempPath, 'wx');
    try {
      if (body instanceof Uint8Array) {
        await handle.writeFile(body);
      } else {
        for await (const chunk of body) {
          if (signal?.aborted) throw abortError(signal);
          await handle.writeFile(chunk);
        }
      }
      if (signal?.aborted) throw abortError(signal);
      // Data must be durable before the rename publishes it, or a crash could publish an empty file.
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(tempPath, filePath);
  } catch (error) {
    await fs.rm(tempPath, { force: true }).catch(() => undefined);
    throw mapFileError(error, uri);
  }
  await syncDirectory(directory);
}

/** Makes the rename itself durable; best effort, as some file systems refuse fsync on directories. */
async function syncDirectory(directory: string): Promise<void> {
  const handle = await fs.open(directory, 'r').catch(() => undefined);
  if (handle === undefined) return;
  try {
    await handle.sync();
  } catch {
    // Durability of the directory entry is a bonus, never a reason to fail a completed write.
  } finally {
    await handle.close();
  }
}

async function deleteFile(policy: RetryPolicy, uri: string, options: CallOptions = {}): Promise<void> {
  const filePath = localPath(uri);
  await retrying(policy, uri, options.signal, () => fs.rm(filePath, { force: true }));
}
