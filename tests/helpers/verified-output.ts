import { createHash } from 'node:crypto';
import { objectsOf, readAcceptedCommits } from '../../jobs/chunk-commits.js';
import { outputLayout } from '../../jobs/output-layout.js';
import type { JobRecord } from '../../schemas/job-record.js';
import { type Manifest, manifestSchema } from '../../schemas/manifest.js';
import type { FormatReaders } from '../../services/formats/make-reader.js';
import type { JobStore } from '../../jobs/ports/job-store.js';
import type { Storage } from '../../jobs/ports/storage.js';
import { makeMemoryStorage } from './memory-storage.js';

/** What a reader finds for one manifest part: the bytes stored under its URI, checked against the manifest. */
export interface PartCheck {
  uri: string;
  /** Bytes and rows the manifest claims. */
  bytes: number;
  rows: number;
  /** Bytes stored (-1: none), their SHA-256, and the rows decoded from exactly those bytes. */
  storedBytes: number;
  storedSha256: string;
  decodedRows: number;
  /** Why the part could not be read, when it could not. */
  error?: string;
  /** Stored size, digest and decoded rows all match the manifest. */
  ok: boolean;
}

/**
 * A finished job's output read as a user must read it: `_manifest.json` parsed with the manifest schema,
 * each part read once, its size and SHA-256 checked, and the rows (`id`, `score`) decoded from the very
 * bytes that were checked. Rows are sorted by id.
 */
export async function readVerifiedOutput(
  storage: Storage,
  readers: FormatReaders,
  manifestUri: string,
): Promise<{ manifest: Manifest; parts: PartCheck[]; rows: Array<[bigint, number]> }> {
  const manifest = manifestSchema.parse(
    JSON.parse(new TextDecoder().decode(await storage.read(manifestUri))),
  );
  const parts: PartCheck[] = [];
  const rows: Array<[bigint, number]> = [];
  for (const part of manifest.parts) {
    let stored: Uint8Array;
    try {
      stored = await storage.read(part.uri);
    } catch (error) {
      // A part the manifest names but storage lacks: reported, not thrown, so a test shows which one.
      const missing = { storedBytes: -1, storedSha256: '', decodedRows: 0, error: String(error) };
      parts.push({ uri: part.uri, bytes: part.bytes, rows: part.rows, ...missing, ok: false });
      continue;
    }
    const sha256 = createHash('sha256').update(stored).digest('hex');
    let decodedRows = 0;
    const copy = makeMemoryStorage({ [part.uri]: stored });
    for await (const batch of readers
      .readerFor(manifest.format)
      .readPart(copy, { uri: part.uri, size: stored.byteLength, range: { kind: 'whole' } })) {
      const id = batch.getChild('id')!;
      const score = batch.getChild('score')!;
      for (let r = 0; r < batch.numRows; r++) rows.push([id.get(r) as bigint, score.get(r) as number]);
      decodedRows += batch.numRows;
    }
    parts.push({
      uri: part.uri,
      bytes: part.bytes,
      rows: part.rows,
      storedBytes: stored.byteLength,
      storedSha256: sha256,
      decodedRows,
      ok: stored.byteLength === part.bytes && sha256 === part.sha256 && decodedRows === part.rows,
    });
  }
  rows.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return { manifest, parts, rows };
}

/**
 * A finished job's folder as it is stored, and what its accepted commits (as Redis names them) reference
 * there, plus `_manifest.json`, `_SUCCESS` and the run report the record names: both sorted, equal once finalize's sweep has run and nothing
 * has written since.
 */
export async function jobFolder(
  store: JobStore,
  storage: Storage,
  record: JobRecord,
): Promise<{ stored: string[]; referenced: string[] }> {
  const layout = outputLayout(record.spec.output.uri, record.id, record.spec.output.format);
  const commits = await readAcceptedCommits(storage, layout, await store.acceptedCommits(record.id));
  const referenced = [
    layout.manifest,
    layout.success,
    ...(record.output.reportUri ? [record.output.reportUri] : []),
    ...commits.flatMap((c) => objectsOf(layout, c)),
  ];
  const stored: string[] = [];
  for await (const object of storage.list(`${layout.root}/`)) stored.push(object.uri);
  return { stored: stored.sort(), referenced: [...new Set(referenced)].sort() };
}
