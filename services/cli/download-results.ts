import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { copyFile, mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { modelFolder, partitionFolder } from '../../jobs/output-partitions.js';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { fileURLToPath } from 'node:url';
import type { JobResults } from '../../schemas/api.js';
import { DownloadChecksumMismatch } from './errors/download-checksum-mismatch.js';
import { DownloadFailed } from './errors/download-failed.js';
import { DownloadSizeMismatch } from './errors/download-size-mismatch.js';

/** One file written by {@link downloadResults}. */
export interface DownloadedFile {
  /** Where it came from (the part's URI). */
  uri: string;
  path: string;
  bytes: number;
}

/** Options of {@link downloadResults}. */
export interface DownloadOptions {
  /** For presigned URLs. Default the global `fetch`. */
  fetch?: typeof fetch;
  /** Files fetched at once. Default 4. */
  concurrency?: number;
  /** Told after each file is in place. */
  onFile?: (file: DownloadedFile) => void;
}

interface Source {
  uri: string;
  url: string | undefined;
  /** The manifest's size and SHA-256 (absent in manifests before v0.2: then nothing is checked). */
  bytes: number | undefined;
  sha256: string | undefined;
  target: string;
}

/** The file name of a URI's last segment; `fallback` when it has none usable. */
export function fileNameOf(uri: string, fallback: string): string {
  const path = URL.canParse(uri) ? new URL(uri).pathname : uri;
  const name = decodeURIComponent(
    path
      .split('/')
      .filter((s) => s !== '')
      .pop() ?? '',
  );
  return name === '' || name === '.' || name === '..' || name.includes('\\') ? fallback : name;
}

async function fetchTo(source: Source, partial: string, doFetch: typeof fetch): Promise<void> {
  let response: Response;
  try {
    response = await doFetch(source.url!);
  } catch (error) {
    throw new DownloadFailed(source.uri, `fetching its URL failed: ${(error as Error).message}`, {
      cause: error,
    });
  }
  if (!response.ok || response.body === null)
    throw new DownloadFailed(source.uri, `its URL answered HTTP ${response.status}`);
  await pipeline(
    Readable.fromWeb(response.body as WebReadableStream<Uint8Array>),
    createWriteStream(partial),
  );
}

async function copyTo(source: Source, partial: string): Promise<void> {
  if (!source.uri.startsWith('file:'))
    throw new DownloadFailed(source.uri, 'no URL to fetch it from (the API gave no presigned URL)');
  try {
    await copyFile(fileURLToPath(source.uri), partial);
  } catch (error) {
    throw new DownloadFailed(
      source.uri,
      `cannot copy it (file:// results are read in place, on the machine that holds them): ${(error as Error).message}`,
      { cause: error },
    );
  }
}

/** Fetches (or copies) one file to `<target>.partial`, checks its size, then renames it into place. */
async function downloadOne(source: Source, doFetch: typeof fetch): Promise<DownloadedFile> {
  const partial = `${source.target}.partial`;
  try {
    if (source.url !== undefined) await fetchTo(source, partial, doFetch);
    else await copyTo(source, partial);
    const { size } = await stat(partial);
    if (source.bytes !== undefined && size !== source.bytes)
      throw new DownloadSizeMismatch(source.uri, source.bytes, size);
    if (source.sha256 !== undefined) {
      const hash = createHash('sha256');
      await pipeline(createReadStream(partial), hash);
      const actual = hash.digest('hex');
      if (actual !== source.sha256) throw new DownloadChecksumMismatch(source.uri, source.sha256, actual);
    }
    await rename(partial, source.target);
    return { uri: source.uri, path: source.target, bytes: size };
  } catch (error) {
    await rm(partial, { force: true });
    throw error;
  }
}

/**
 * Downloads a succeeded job's results into `dir`: every part (checked against the manifest's size and SHA-256;
 * a partitioned part in its Hive `key=value/` folder, a model's part of `output.challengers: "parts"` in its
 * `model=<name>/` folder, so DuckDB reads `dir` with `hive_partitioning`),
 * every rejected file under `rejected/`, and `_manifest.json` last, so a folder holding a manifest is
 * complete. Parts with a presigned URL are fetched; file:// parts are copied.
 */
export async function downloadResults(
  results: JobResults,
  dir: string,
  options: DownloadOptions = {},
): Promise<DownloadedFile[]> {
  const doFetch = options.fetch ?? fetch;
  // By URI: a resumed chunk has several parts under one index.
  const listed = new Map<string, { bytes?: number; sha256?: string }>(
    [...results.manifest.parts, ...results.manifest.rejected].map((p) => [p.uri, p]),
  );
  const checks = (uri: string) => ({ bytes: listed.get(uri)?.bytes, sha256: listed.get(uri)?.sha256 });
  const byUri = new Map(results.manifest.parts.map((p) => [p.uri, p]));
  const partitionBy = results.manifest.partitionBy;
  // `model=<name>/` (output.challengers "parts"), then the partition's folders: as the job's folder has them.
  const folderOf = (uri: string): string => {
    const part = byUri.get(uri);
    const model = part?.model === undefined ? '' : modelFolder(part.model);
    return model + (partitionBy && part?.partition ? partitionFolder(partitionBy, part.partition) : '');
  };
  const sources: Source[] = [
    ...results.parts.map((p) => ({
      uri: p.uri,
      url: p.url,
      ...checks(p.uri),
      // A partitioned part keeps its `key=value/` folder: its name alone repeats across partitions (and models).
      target: join(dir, folderOf(p.uri), fileNameOf(p.uri, `part-${p.index}`)),
    })),
    ...results.rejected.map((r) => ({
      uri: r.uri,
      url: r.url,
      ...checks(r.uri),
      target: join(dir, 'rejected', fileNameOf(r.uri, `rejected-${r.index}`)),
    })),
  ];
  for (const folder of new Set(sources.map((s) => dirname(s.target))))
    await mkdir(folder, { recursive: true });
  await mkdir(dir, { recursive: true });
  if (results.rejected.length > 0) await mkdir(join(dir, 'rejected'), { recursive: true });

  const done: DownloadedFile[] = [];
  let next = 0;
  let failed = false;
  const lane = async () => {
    // After a failure the other lanes finish the file in hand and take no more.
    while (!failed && next < sources.length) {
      const source = sources[next++]!;
      try {
        const file = await downloadOne(source, doFetch);
        done.push(file);
        options.onFile?.(file);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 4) }, lane));

  const manifestPath = join(dir, '_manifest.json');
  const manifestText = `${JSON.stringify(results.manifest, null, 2)}\n`;
  await writeFile(manifestPath, manifestText);
  done.push({ uri: results.manifestUri, path: manifestPath, bytes: Buffer.byteLength(manifestText) });
  return done;
}
