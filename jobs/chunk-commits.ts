import { createHash, randomBytes } from 'node:crypto';
import type { ChunkDescriptor } from '../schemas/chunk-descriptor.js';
import {
  type ChunkCommit,
  type PartitionedPart,
  type SegmentCommit,
  type WrittenObject,
  chunkCommitSchema,
  segmentCommitSchema,
} from '../schemas/chunk-commit.js';
import type { JobRecord } from '../schemas/job-record.js';
import type { ChunkCommitResult } from './ports/job-store.js';
import { StorageNotFound } from './ports/errors/storage-not-found.js';
import type { Storage } from './ports/storage.js';
import { mapLimited } from './map-limited.js';
import { type OutputLayout, segmentRef } from './output-layout.js';
import type { PipelineDeps } from './pipeline-deps.js';
import { AttemptStopped } from './score/errors/attempt-stopped.js';

/**
 * The commit protocol, in one place (DESIGN invariants 2, 3 and 7):
 * 1. an attempt takes a fencing token (`JobStore.beginAttempt`) and writes only objects whose names carry
 *    its id, so no two attempts ever write under one name;
 * 2. a segment or chunk is committed by writing its marker to storage, then having Redis accept it in one
 *    atomic script that checks the token is current and the job `running` (`acceptSegment`, `commitChunk`);
 *    what a refused attempt wrote is deleted by it, or by finalize's sweep;
 * 3. finalize reads only the accepted markers, lists exactly their objects in the manifest and deletes
 *    every other object under the job's folder;
 * 4. after Redis lost a job, planning adopts a chunk marker only if spec digest, model digest and the
 *    chunk's inputs all match and every object it names is there.
 */

/** A fresh attempt id: 12 random base-36 characters, in every name the attempt writes. */
/** The digests a chunk scores with: the champion's, and each challenger's by name. */
export interface ModelDigests {
  modelSha256: string;
  challengerSha256?: Record<string, string>;
}

/** Whether a marker was scored with exactly these models (no challenger more, none less, none other). */
export function sameModels(marker: ModelDigests, digests: ModelDigests): boolean {
  if (marker.modelSha256 !== digests.modelSha256) return false;
  const a = marker.challengerSha256 ?? {};
  const b = digests.challengerSha256 ?? {};
  const names = Object.keys(a);
  return names.length === Object.keys(b).length && names.every((name) => a[name] === b[name]);
}

export function newAttemptId(): string {
  return BigInt(`0x${randomBytes(8).toString('hex')}`)
    .toString(36)
    .padStart(12, '0')
    .slice(-12);
}

/** Digest of what a chunk reads: its objects, their planned versions and its ranges. */
export function chunkInputDigest(chunk: Pick<ChunkDescriptor, 'format' | 'parts'>): string {
  const parts = chunk.parts.map((p) => [p.uri, p.etag ?? null, p.size, p.range]);
  return createHash('sha256')
    .update(JSON.stringify([chunk.format, parts]))
    .digest('hex');
}

const encode = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value));

/** What `readMarker` needs of a marker's schema (a zod schema from schemas/chunk-commit.ts). */
interface MarkerSchema<T> {
  safeParse(value: unknown): { success: true; data: T } | { success: false; error: { message: string } };
}

/** A marker file, parsed and validated; a marker that is not one is an error naming its URI. */
async function readMarker<T>(
  storage: Pick<Storage, 'read'>,
  uri: string,
  schema: MarkerSchema<T>,
  signal?: AbortSignal,
): Promise<T> {
  const text = new TextDecoder().decode(await storage.read(uri, undefined, { signal }));
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new TypeError(`${uri} is not a commit marker: ${(error as Error).message}`, { cause: error });
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw new TypeError(`${uri} is not a commit marker: ${parsed.error.message}`);
  return parsed.data;
}

/**
 * The accepted segments of a chunk (Redis keeps their refs, in row order), for the job's spec and model:
 * the chain a new attempt resumes after, cut at the first gap or foreign segment.
 */
export async function readAcceptedSegments(
  storage: Storage,
  layout: OutputLayout,
  index: number,
  refs: readonly string[],
  expect: { specDigest: string } & ModelDigests,
  signal?: AbortSignal,
): Promise<SegmentCommit[]> {
  const chain: SegmentCommit[] = [];
  for (const ref of refs) {
    const segment = await readMarker(storage, layout.segmentMarker(index, ref), segmentCommitSchema, signal);
    if (segment.specDigest !== expect.specDigest || !sameModels(segment, expect)) break;
    if (segment.rowStart !== (chain.at(-1)?.rowEnd ?? 0)) break;
    chain.push(segment);
  }
  return chain;
}

/**
 * The part files of a segment: its one `part`, or (with `output.partitionBy`) its file of each partition.
 * Markers written before partitioning have only `part`.
 */
export function segmentParts(segment: SegmentCommit): Array<WrittenObject & Partial<PartitionedPart>> {
  if (segment.partitions !== undefined) return segment.partitions;
  return segment.part === undefined ? [] : [segment.part];
}

/** Deletes objects an attempt wrote but could not commit; a failure here is left to finalize's sweep. */
/** Deletes what an attempt wrote and will not commit, as far as it can (without a signal: even once stopped). */
export async function discard(storage: Storage, uris: readonly string[]): Promise<void> {
  await Promise.allSettled(uris.map((uri) => storage.delete(uri)));
}

/** `storage`, noting in `uris` each object a write is begun on (whether or not the write then succeeds). */
export function recordingWrites(storage: Storage, uris: string[]): Storage {
  return {
    list: (prefixUri, options) => storage.list(prefixUri, options),
    stat: (uri, options) => storage.stat(uri, options),
    read: (uri, range, options) => storage.read(uri, range, options),
    write: (uri, body, options) => {
      uris.push(uri);
      return storage.write(uri, body, options);
    },
    delete: (uri, options) => storage.delete(uri, options),
  };
}

/**
 * Commits one segment: writes its marker, then has Redis accept it for `segment.attempt`. Refused, the
 * attempt deletes the segment's objects and stops (`AttemptStopped`).
 */
export async function acceptSegment(
  deps: Pick<PipelineDeps, 'store' | 'storage'>,
  jobId: string,
  layout: OutputLayout,
  index: number,
  segment: SegmentCommit,
  signal?: AbortSignal,
): Promise<void> {
  const ref = segmentRef(segment.rowStart, segment.attempt);
  const marker = layout.segmentMarker(index, ref);
  const written = [
    ...segmentParts(segment).map((p) => p.uri),
    ...(segment.rejectedFile ? [segment.rejectedFile.uri] : []),
  ];
  try {
    await deps.storage.write(marker, encode(segment), { signal, contentType: 'application/json' });
  } catch (error) {
    // Not yet offered to Redis: nothing of the segment can be referenced, whatever the write stored.
    await discard(deps.storage, [...written, marker]);
    throw error;
  }
  const state = await deps.store.acceptSegment(jobId, index, segment.attempt, ref);
  if (state !== 'current') {
    await discard(deps.storage, [...written, marker]);
    throw new AttemptStopped(jobId, index, state);
  }
}

/**
 * Commits a chunk: writes its marker, then has Redis count it for `commit.attempt`. Refused as stale, the
 * attempt deletes its marker (its segments may be another attempt's resume point, and are kept) and stops.
 */
export async function acceptChunk(
  deps: Pick<PipelineDeps, 'store' | 'storage'>,
  jobId: string,
  layout: OutputLayout,
  commit: ChunkCommit,
  maxInvalidFraction: number,
  signal?: AbortSignal,
): Promise<ChunkCommitResult> {
  const marker = layout.commit(commit.index, commit.attempt);
  try {
    await deps.storage.write(marker, encode(commit), { signal, contentType: 'application/json' });
  } catch (error) {
    await discard(deps.storage, [marker]);
    throw error;
  }
  const result = await deps.store.commitChunk(jobId, commit.index, {
    rows: commit.rows,
    rejected: commit.rejected,
    attempt: commit.attempt,
    maxInvalidFraction,
  });
  if (result.outcome === 'stale') {
    await discard(deps.storage, [marker]);
    throw new AttemptStopped(jobId, commit.index, 'superseded');
  }
  if (result.outcome === 'duplicate') await discard(deps.storage, [marker]);
  return result;
}

/** The accepted commit of every chunk in `accepted` (index → attempt), by index. */
export async function readAcceptedCommits(
  storage: Pick<Storage, 'read'>,
  layout: OutputLayout,
  accepted: ReadonlyMap<number, string>,
  signal?: AbortSignal,
): Promise<ChunkCommit[]> {
  const entries = [...accepted.entries()].sort((a, b) => a[0] - b[0]);
  return mapLimited(entries, 8, async ([index, attempt]) => {
    const commit = await readMarker(storage, layout.commit(index, attempt), chunkCommitSchema, signal);
    if (commit.index !== index || commit.attempt !== attempt)
      throw new TypeError(
        `${layout.commit(index, attempt)} names chunk ${commit.index} attempt ${commit.attempt}`,
      );
    return commit;
  });
}

/** Every object a commit references: its marker, its segments' markers, parts and refused-row files. */
export function objectsOf(layout: OutputLayout, commit: ChunkCommit): string[] {
  return [
    layout.commit(commit.index, commit.attempt),
    ...commit.segments.flatMap((s) => [
      layout.segmentMarker(commit.index, segmentRef(s.rowStart, s.attempt)),
      ...segmentParts(s).map((p) => p.uri),
      ...(s.rejectedFile ? [s.rejectedFile.uri] : []),
    ]),
  ];
}

/**
 * Deletes every object under the job's folder that `keep` does not name: what zombie or refused attempts
 * left. Run once the job is no longer `running`, so nothing new can be accepted meanwhile. In the `exact`
 * layout the folder is the location itself: only what Quiver writes there is deleted (the previous run's
 * parts and bookkeeping, leftovers), never a user's other files or a `job`-layout job's folder
 * (`OutputLayout.sweepable`). Returns how many objects were deleted.
 */
export async function sweepUnreferenced(
  storage: Storage,
  layout: OutputLayout,
  keep: ReadonlySet<string>,
  signal?: AbortSignal,
): Promise<number> {
  const doomed: string[] = [];
  for await (const object of storage.list(`${layout.root}/`, { signal }))
    if (!keep.has(object.uri) && layout.sweepable(object.uri)) doomed.push(object.uri);
  await mapLimited(doomed, 16, (uri) => storage.delete(uri, { signal }));
  return doomed.length;
}

/** Whether every object a commit names is there with its recorded size (a sweep may have removed some). */
async function objectsPresent(storage: Storage, commit: ChunkCommit, signal?: AbortSignal): Promise<boolean> {
  const expected = commit.segments.flatMap((s) => [
    ...segmentParts(s),
    ...(s.rejectedFile ? [s.rejectedFile] : []),
  ]);
  try {
    for (const object of expected)
      if ((await storage.stat(object.uri, { signal })).size !== object.bytes) return false;
    return true;
  } catch (error) {
    if (error instanceof StorageNotFound) return false;
    throw error;
  }
}

/**
 * Chunk commits left in storage by an earlier life of this job (Redis lost it; the same idempotency key
 * addresses the same folder) that may be adopted for the new plan: same spec, same model digest, same
 * inputs at the same versions and ranges, every object present. One per chunk; the rest are ignored.
 */
export async function adoptableCommits(
  deps: Pick<PipelineDeps, 'storage' | 'log'>,
  record: Pick<JobRecord, 'id' | 'specDigest'>,
  layout: OutputLayout,
  planned: readonly ChunkDescriptor[],
  digests: ModelDigests,
  signal?: AbortSignal,
): Promise<ChunkCommit[]> {
  const found = new Map<number, ChunkCommit>();
  for await (const object of deps.storage.list(layout.commits, { signal })) {
    // Markers live directly in `_commits/`; nothing deeper is one.
    if (object.uri.slice(layout.commits.length).includes('/')) continue;
    let commit: ChunkCommit;
    try {
      commit = await readMarker(deps.storage, object.uri, chunkCommitSchema, signal);
    } catch (error) {
      // Not a marker (not JSON, another shape) or gone since the listing: logged, never fatal.
      if (!(error instanceof TypeError) && !(error instanceof StorageNotFound)) throw error;
      deps.log.info({ jobId: record.id, uri: object.uri, reason: error.message }, 'commit marker ignored');
      continue;
    }
    const chunk = planned[commit.index];
    if (found.has(commit.index) || chunk === undefined) continue;
    if (
      commit.specDigest !== record.specDigest ||
      !sameModels(commit, digests) ||
      commit.inputDigest !== chunkInputDigest(chunk)
    ) {
      deps.log.info(
        {
          jobId: record.id,
          chunk: commit.index,
          uri: object.uri,
          reason:
            commit.specDigest !== record.specDigest
              ? 'another spec'
              : !sameModels(commit, digests)
                ? 'another model'
                : 'other input',
        },
        'commit marker not adopted',
      );
      continue;
    }
    if (await objectsPresent(deps.storage, commit, signal)) found.set(commit.index, commit);
  }
  return [...found.values()].sort((a, b) => a.index - b.index);
}
