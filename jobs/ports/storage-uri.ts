import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { InvalidStorageUri } from './errors/invalid-storage-uri.js';

/** A parsed storage location. `key`/`path` keep a trailing `/` when the URI names a prefix/directory. */
export type StorageLocation =
  { scheme: 's3'; bucket: string; key: string } | { scheme: 'file'; path: string };

// S3's own rules (3–63 chars, lowercase, digits, dots, hyphens); underscores and capitals are tolerated
// because some S3-compatible stores allow them, and the server is the final judge anyway.
const bucketPattern = /^[A-Za-z0-9][A-Za-z0-9._-]{1,61}[A-Za-z0-9]$/;

/**
 * Parses `s3://bucket/key`, `file:///abs/path`, or a plain local path (absolute, or relative to the
 * current directory) which becomes a file location. S3 keys are taken verbatim (no percent-decoding),
 * as the AWS CLI does; file URIs are standard URLs and are decoded.
 */
export function parseUri(uri: string): StorageLocation {
  if (uri.length === 0) throw new InvalidStorageUri(uri, 'empty');
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(uri)?.[1]?.toLowerCase();
  if (scheme === 's3') {
    if (!uri.slice(0, 5).toLowerCase().startsWith('s3://')) {
      throw new InvalidStorageUri(uri, 'expected s3://bucket/key');
    }
    const rest = uri.slice(5);
    const slash = rest.indexOf('/');
    const bucket = slash === -1 ? rest : rest.slice(0, slash);
    const key = slash === -1 ? '' : rest.slice(slash + 1);
    if (!bucketPattern.test(bucket))
      throw new InvalidStorageUri(uri, `bad bucket name ${JSON.stringify(bucket)}`);
    return { scheme: 's3', bucket, key };
  }
  if (scheme === 'file') {
    let filePath: string;
    try {
      filePath = fileURLToPath(uri);
    } catch (error) {
      throw new InvalidStorageUri(uri, error instanceof Error ? error.message : 'not a file URL');
    }
    return { scheme: 'file', path: filePath };
  }
  // One-letter "schemes" are Windows drive letters, not URLs.
  if (scheme !== undefined && scheme.length > 1) {
    throw new InvalidStorageUri(uri, `unsupported scheme ${JSON.stringify(scheme)} (use s3:// or file://)`);
  }
  const resolved = path.resolve(uri);
  return { scheme: 'file', path: keepTrailingSlash(uri, resolved) };
}

/** The canonical URI of a location: `s3://bucket/key` or `file:///abs/path` (percent-encoded). */
export function formatUri(location: StorageLocation): string {
  if (location.scheme === 's3') return `s3://${location.bucket}/${location.key}`;
  return fileUri(location.path);
}

/** `file://` URI of an absolute path; a trailing separator is kept so directories stay prefixes. */
export function fileUri(absolutePath: string): string {
  const href = pathToFileURL(absolutePath).href;
  return absolutePath.endsWith(path.sep) && !href.endsWith('/') ? `${href}/` : href;
}

/** Normalises any accepted form (including a plain path) to its canonical URI. */
export function normalizeUri(uri: string): string {
  return formatUri(parseUri(uri));
}

/**
 * Appends a relative name (which may contain `/`) under a base URI treated as a directory/prefix:
 * `joinUri('s3://b/out', 'job/part-00000.parquet')` → `s3://b/out/job/part-00000.parquet`.
 */
export function joinUri(base: string, name: string): string {
  const location = parseUri(base);
  const relative = name.replace(/^\/+/, '');
  if (relative.split('/').some((segment) => segment === '..')) {
    throw new InvalidStorageUri(name, `joining onto ${base} must not climb out of it with ".."`);
  }
  if (location.scheme === 's3') {
    const prefix = location.key === '' || location.key.endsWith('/') ? location.key : `${location.key}/`;
    return formatUri({ ...location, key: prefix + relative });
  }
  return formatUri({ scheme: 'file', path: keepTrailingSlash(relative, path.join(location.path, relative)) });
}

function keepTrailingSlash(original: string, resolved: string): string {
  const wantsSlash = original.endsWith('/') || original.endsWith(path.sep);
  return wantsSlash && !resolved.endsWith(path.sep) ? resolved + path.sep : resolved;
}

/**
 * Why a path's segments (percent-encoded, as in a URI) cannot be compared by prefix: bad percent-encoding,
 * a `.` or `..` segment, an encoded separator, or an empty segment anywhere but last (a prefix's trailing
 * slash); undefined when they can.
 */
export function pathSegmentsProblem(segments: readonly string[]): string | undefined {
  for (const [i, raw] of segments.entries()) {
    let segment: string;
    try {
      segment = decodeURIComponent(raw);
    } catch {
      return `bad percent-encoding in ${JSON.stringify(raw)}`;
    }
    if (segment === '.' || segment === '..') return `a ${JSON.stringify(segment)} segment`;
    if (segment.includes('/') || segment.includes('\\'))
      return `an encoded separator in ${JSON.stringify(raw)}`;
    // An empty segment (`a//b`) is allowed only as the trailing slash of a prefix.
    if (segment === '' && i !== segments.length - 1) return 'an empty segment';
  }
  return undefined;
}
