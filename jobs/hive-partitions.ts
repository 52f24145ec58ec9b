import { normalizeUri } from './ports/storage-uri.js';

/**
 * The prefix Hive partition folders are read below (`input.hivePartitioning`): the input URI as a folder,
 * canonical like the listing's URIs. An input URI that names one object has no folders below it.
 */
export function hivePrefix(inputUri: string): string {
  return normalizeUri(inputUri.endsWith('/') ? inputUri : `${inputUri}/`);
}

/** The folder of `uri` relative to `prefix`, with its trailing `/` (`dt=2026-11-28/hour=7/`); `''` if none. */
export function hiveFolderOf(prefix: string, uri: string): string {
  if (!uri.startsWith(prefix)) return '';
  const relative = uri.slice(prefix.length);
  return relative.slice(0, relative.lastIndexOf('/') + 1);
}

/**
 * The `key=value` segments of a folder path, in path order, values still escaped as they are in the key
 * (a later segment with the same key wins, as in DuckDB). Segments without `=` are not partitions.
 */
export function hiveSegmentsOf(folder: string): Map<string, string> {
  const segments = new Map<string, string>();
  for (const segment of folder.split('/')) {
    const eq = segment.indexOf('=');
    if (eq <= 0) continue;
    const key = segment.slice(0, eq);
    segments.delete(key);
    segments.set(key, segment.slice(eq + 1));
  }
  return segments;
}
