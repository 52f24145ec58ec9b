import { realpath } from 'node:fs/promises';
import path from 'node:path';
import { parseUri, pathSegmentsProblem } from '../../jobs/ports/storage-uri.js';
import type { Storage } from '../../jobs/ports/storage.js';
import { StorageForbidden } from './errors/storage-forbidden.js';

/**
 * What one tenant may touch: URI prefixes it may read and write (write implies read). `open` (a single
 * tenant, or `QUIVER_STORAGE_GRANTS=open`) allows every `s3://` URI besides; `file://` is reachable only
 * through an explicit grant in every mode, so a tenant can never name the workers' own disk.
 */
export interface StorageGrants {
  read: readonly string[];
  write: readonly string[];
  open: boolean;
}

export type Access = 'read' | 'write';

/** Why `uri` cannot be compared with grants (not a storage URI, a `..` or empty segment, …); else undefined. */
export function uriShapeProblem(uri: string): string | undefined {
  let location;
  try {
    location = parseUri(uri);
  } catch (error) {
    return (error as Error).message;
  }
  if (location.scheme === 's3')
    return pathSegmentsProblem(location.key === '' ? [] : location.key.split('/'));
  // URL parsing resolves `..` in file URLs: look at the path as written.
  const written = /^file:/i.test(uri) ? uri.replace(/^file:\/\/[^/]*/i, '').replace(/[?#].*$/, '') : uri;
  return pathSegmentsProblem(written.split('/').slice(1));
}

/**
 * The canonical form grants are compared in: `s3://bucket/key` with every key segment percent-decoded and
 * checked (no `.`/`..`, no empty or encoded-separator segments), `file:///real/path` resolved through
 * symlinks (the nearest existing ancestor for paths that do not exist yet). A URI that cannot be compared
 * safely gives `{ unsafe }`, the reason.
 */
export async function canonicalUri(uri: string): Promise<string | { unsafe: string }> {
  const unsafe = uriShapeProblem(uri);
  if (unsafe) return { unsafe };
  const location = parseUri(uri);
  if (location.scheme === 's3') {
    const segments = location.key === '' ? [] : location.key.split('/');
    return `s3://${location.bucket}/${segments.map((s) => decodeURIComponent(s)).join('/')}`;
  }
  const real = await realPathOf(location.path);
  return `file://${real}${location.path.endsWith(path.sep) && !real.endsWith('/') ? '/' : ''}`;
}

/** `realpath` of `target`, or of its nearest existing ancestor with the rest appended. */
async function realPathOf(target: string): Promise<string> {
  const rest: string[] = [];
  let at = path.resolve(target);
  for (;;) {
    try {
      return path.join(await realpath(at), ...rest.reverse());
    } catch {
      const parent = path.dirname(at);
      if (parent === at) return path.join(at, ...rest.reverse());
      rest.push(path.basename(at));
      at = parent;
    }
  }
}

/** Whether canonical `uri` lies under canonical grant `prefix`: a grant names a folder (`s3://acme` ≠ `s3://acme-b`). */
function covers(prefix: string, uri: string): boolean {
  const folder = prefix.endsWith('/') ? prefix : `${prefix}/`;
  return uri === folder.slice(0, -1) || uri.startsWith(folder);
}

/** Checks grants for one tenant; grant prefixes are canonicalised once (file:// through `realpath`). */
export function makeGrantChecker(grants: StorageGrants) {
  const named = (access: Access) => (access === 'write' ? grants.write : [...grants.write, ...grants.read]);
  const canonicalGrants = async (access: Access): Promise<string[]> =>
    (await Promise.all(named(access).map((g) => canonicalUri(g)))).filter(
      (g): g is string => typeof g === 'string',
    );
  let canonical: Promise<{ read: string[]; write: string[] }> | undefined;
  const prefixes = () =>
    (canonical ??= (async () => ({
      read: await canonicalGrants('read'),
      write: await canonicalGrants('write'),
    }))());

  return {
    /**
     * Throws `StorageForbidden` unless `uri` may be accessed so; `field` names the spec field it came from.
     * Returns the URI's canonical form (what was compared).
     */
    async check(uri: string, access: Access, field?: string): Promise<string> {
      const list = named(access);
      const target = await canonicalUri(uri);
      if (typeof target !== 'string') throw new StorageForbidden(uri, access, list, field, target.unsafe);
      if (grants.open && target.startsWith('s3://')) return target;
      if ((await prefixes())[access].some((prefix) => covers(prefix, target))) return target;
      throw new StorageForbidden(uri, access, list, field);
    },
  };
}

export type GrantChecker = ReturnType<typeof makeGrantChecker>;

/**
 * A storage that refuses (`StorageForbidden`) every call outside the grants: reads, stats and listings need
 * a read grant (and every object a listing returns is checked too), writes and deletes a write grant. The
 * workers scope each job's I/O with it, so no cache, digest or listing reaches past the tenant's grants.
 */
export function grantedStorage(inner: Storage, checker: GrantChecker): Storage {
  return {
    async *list(prefixUri, options) {
      await checker.check(prefixUri, 'read');
      for await (const object of inner.list(prefixUri, options)) {
        await checker.check(object.uri, 'read');
        yield object;
      }
    },
    async stat(uri, options) {
      await checker.check(uri, 'read');
      return inner.stat(uri, options);
    },
    async read(uri, range, options) {
      await checker.check(uri, 'read');
      return inner.read(uri, range, options);
    },
    async write(uri, body, options) {
      await checker.check(uri, 'write');
      return inner.write(uri, body, options);
    },
    async delete(uri, options) {
      await checker.check(uri, 'write');
      return inner.delete(uri, options);
    },
  };
}
