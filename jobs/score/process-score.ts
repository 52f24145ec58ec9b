import type { ChunkCommit } from '../../schemas/chunk-commit.js';
import type { ChunkDescriptor } from '../../schemas/chunk-descriptor.js';
import type { JobRecord } from '../../schemas/job-record.js';
import type { ModelSpec } from '../../schemas/model-spec.js';
import { type PinnedStorage, pinnedStorage } from '../pinned-storage.js';
import {
  acceptChunk,
  chunkInputDigest,
  newAttemptId,
  readAcceptedSegments,
  segmentParts,
} from '../chunk-commits.js';
import { InvalidJobTransition } from '../errors/invalid-job-transition.js';
import { hivePrefix } from '../hive-partitions.js';
import { JobNotFound } from '../ports/errors/job-not-found.js';
import { RowsRejectedOverLimit } from '../errors/rows-rejected-over-limit.js';
import { jobOutputLayout } from '../output-layout.js';
import { type PipelineDeps, forTenant } from '../pipeline-deps.js';
import type { RowBatch } from '../ports/batches.js';
import type { ReadProjection } from '../ports/input-readers.js';
import type { Log } from '../ports/log.js';
import { noMetrics } from '../ports/metrics.js';
import { skipRows } from '../skip-rows.js';
import { type AttemptMeter, makeAttemptMeter } from './attempt-meter.js';
import { type SkippedRecord, makeChunkCheckpoint } from './chunk-checkpoint.js';
import { AttemptStopped } from './errors/attempt-stopped.js';
import { ChunkDeferred } from './errors/chunk-deferred.js';
import type { ChunkSlot } from '../ports/chunk-shares.js';
import type { ChallengerLease } from '../ports/chunk-scorer.js';
import type { SegmentStats } from '../../schemas/run-report.js';
import { forChallenger } from '../for-challenger.js';

/**
 * Every batch of every part of a chunk, in order, each object read at the version planning saw (a changed
 * one throws `INPUT_CHANGED`). With `onSkipped`, records that cannot be decoded are skipped and reported
 * with their place in the chunk's row stream.
 */
async function* readChunk(
  deps: PipelineDeps,
  storage: PinnedStorage,
  record: JobRecord,
  chunk: ChunkDescriptor,
  signal?: AbortSignal,
  projection?: ReadProjection,
  onSkipped?: (skipped: SkippedRecord) => void,
): AsyncGenerator<RowBatch> {
  const reader = deps.readers.readerFor(chunk.format);
  const hive = chunk.hive && { prefix: hivePrefix(record.spec.input.uri), columns: chunk.hive };
  let rowsBefore = 0;
  for (const part of chunk.parts) {
    const partStart = rowsBefore;
    const onInvalidRecord = onSkipped
      ? (invalid: SkippedRecord['invalid']) => onSkipped({ position: partStart + invalid.rowInPart, invalid })
      : undefined;
    for await (const batch of reader.readPart(storage, part, {
      signal,
      header: record.spec.input.header,
      ...projection,
      ...(hive ? { hive } : {}),
      ...(onInvalidRecord ? { onInvalidRecord } : {}),
    })) {
      rowsBefore += batch.numRows;
      yield batch;
    }
    // Decoders that read a local file in place bypass `read`: the version is checked once more after it.
    await storage.verify(part.uri, { signal });
  }
}

/** `onInvalidRow: "skip"` turns a `fail` null policy into `reject`: such rows go to `rejected/`. */
function effectiveModelSpec(record: JobRecord, model: ModelSpec = record.spec.model): ModelSpec {
  if (record.spec.errors.onInvalidRow !== 'skip' || !model.inputs) return model;
  const inputs = Object.fromEntries(
    Object.entries(model.inputs).map(([name, mapping]) => [
      name,
      mapping.nulls === 'fail' ? { ...mapping, nulls: 'reject' as const } : mapping,
    ]),
  );
  return { ...model, inputs };
}

/**
 * Scores one chunk as one attempt: takes a slot of the tenant's running-chunk share when it has one (none
 * free: `ChunkDeferred`, the chunk waits), takes the chunk's fencing token, reads its parts at their planned
 * versions, scores every row with the job's one model, and commits what it has scored as a segment every
 * `checkpointMs` of scoring, so a killed worker loses at most one checkpoint interval: the next attempt
 * resumes after the last accepted segment. Then the chunk commits (marker, then Redis' acceptance), and the
 * last commit hands the job to finalize. An attempt that is superseded, or whose job leaves `running`,
 * stops and writes nothing anything references (`jobs/chunk-commits.ts`).
 */
export async function processScore(
  deps: PipelineDeps,
  jobId: string,
  chunk: ChunkDescriptor,
  signal?: AbortSignal,
  /** Called whenever the chunk moves: a batch read or scored (the worker's stall watchdog listens). */
  progress: () => void = () => undefined,
): Promise<void> {
  const record = await deps.store.get(jobId);
  if (!record) return;
  deps = forTenant(deps, record.tenant);
  const attempt = newAttemptId();
  // The tenant's share is checked before the attempt begins, so a chunk that has to wait uses no attempt.
  // A job that is not running takes no slot: its attempt stops (or finishes the job) at once.
  const slot =
    deps.chunkShares && record.status === 'running'
      ? await deps.chunkShares.take(record.tenant, jobId, chunk.index, attempt)
      : noSlot;
  if (!slot) throw new ChunkDeferred(record.tenant, jobId, chunk.index);
  // Work abandoned after an abort (a hung read) never reaches `finally`: the abort gives the slot back.
  const releaseOnAbort = (): void => void slot.release();
  signal?.addEventListener('abort', releaseOnAbort, { once: true });
  try {
    await runAttempt(deps, record, chunk, attempt, signal, progress);
  } finally {
    signal?.removeEventListener('abort', releaseOnAbort);
    await slot.release();
  }
}

const noSlot: ChunkSlot = { release: () => Promise.resolve() };

/** One attempt of a chunk, from taking its fencing token to its commit (see {@link processScore}). */
async function runAttempt(
  deps: PipelineDeps,
  record: JobRecord,
  chunk: ChunkDescriptor,
  attempt: string,
  signal: AbortSignal | undefined,
  progress: () => void,
): Promise<void> {
  const jobId = record.id;
  const begun = await deps.store.beginAttempt(jobId, chunk.index, attempt);
  // Committed by an attempt that may have stopped before handing the job on: the record read above
  // already counts that commit (it came before this attempt began).
  if (begun.state === 'committed') return finishIfLast(deps, jobId, record.progress);
  if (begun.state === 'stopped') return;
  const log = deps.log.child({ jobId, chunk: chunk.index, attempt });
  const stopping = watchAttempt(deps, jobId, chunk.index, attempt, signal);
  const started = performance.now();
  const meter = makeAttemptMeter(chunk, deps.metrics, deps.cpu);
  let superseded = false;
  try {
    await scoreAttempt(deps, record, chunk, attempt, begun.segments, log, stopping.signal, progress, meter);
  } catch (error) {
    // Whatever the abort surfaced as inside a read or a run, the attempt stopped for the watch's reason.
    const reason: unknown = stopping.signal.reason;
    const stopped =
      error instanceof AttemptStopped
        ? error
        : stopping.signal.aborted && reason instanceof AttemptStopped
          ? reason
          : undefined;
    if (!stopped) throw error;
    superseded = stopped.state === 'superseded';
    log.info({ state: stopped.state }, 'attempt stopped');
    (deps.metrics ?? noMetrics).chunkFinished('superseded', (performance.now() - started) / 1000);
  } finally {
    stopping.close();
    // An attempt that failed or stopped cost what it used too; a committed one was charged already.
    await chargeUsage(deps, jobId, meter, superseded).catch((error: unknown) =>
      log.warn({ err: error }, 'usage of the attempt not recorded'),
    );
  }
}

/** Adds the attempt's use to its job's usage, once (later calls do nothing). */
async function chargeUsage(
  deps: PipelineDeps,
  jobId: string,
  meter: AttemptMeter,
  superseded: boolean,
): Promise<void> {
  const usage = meter.finish(superseded);
  if (usage) await deps.store.addUsage(jobId, usage);
}

/**
 * A signal that aborts with `AttemptStopped` as soon as the attempt is no longer current: superseded, or
 * its job left `running` (cancelled, failed, finalizing). Checked on every announced status change of
 * the job (`deps.events`: one subscription per worker process), and every few seconds in case an
 * announcement was lost (every quarter second without `deps.events`). Writes check again regardless.
 */
function watchAttempt(
  deps: PipelineDeps,
  jobId: string,
  index: number,
  attempt: string,
  outer: AbortSignal | undefined,
): { signal: AbortSignal; close(): void } {
  const stop = new AbortController();
  const onOuter = (): void => stop.abort(outer?.reason);
  if (outer?.aborted) onOuter();
  outer?.addEventListener('abort', onOuter, { once: true });
  const check = (): void => {
    if (stop.signal.aborted) return;
    deps.store.attemptState(jobId, index, attempt).then(
      (state) => {
        if (state !== 'current') stop.abort(new AttemptStopped(jobId, index, state));
      },
      // Redis unreachable: the next write's check decides.
      () => undefined,
    );
  };
  const unlisten = deps.events?.onStatusChange(jobId, check);
  const timer = setInterval(check, deps.events ? 5_000 : 250);
  const close = (): void => {
    clearInterval(timer);
    unlisten?.();
    outer?.removeEventListener('abort', onOuter);
  };
  // Once stopped there is nothing left to watch, even if the work never returns (a hung read abandoned).
  stop.signal.addEventListener('abort', close, { once: true });
  return { signal: stop.signal, close };
}

async function scoreAttempt(
  deps: PipelineDeps,
  record: JobRecord,
  chunk: ChunkDescriptor,
  attempt: string,
  acceptedSegments: readonly string[],
  log: Log,
  signal: AbortSignal,
  progress: () => void,
  meter: AttemptMeter,
): Promise<void> {
  const jobId = record.id;
  const started = performance.now();
  // Every byte the attempt reads and writes is counted and timed (the job's usage, the stage metrics).
  deps = { ...deps, storage: meter.storage(deps.storage) };
  const spec = record.spec;
  const layout = jobOutputLayout(spec.output, jobId);
  const checkpointMs = deps.checkpointMs ?? 30_000;

  const mapped = effectiveModelSpec(record);
  // The champion and its challengers score each batch at once, sharing the cores.
  const share = { sideBySide: 1 + (spec.challengers?.length ?? 0) };
  const lease = await deps.scorers.acquire(mapped, record.modelSha256, signal, deps.storage, share);
  const challengers: ChallengerLease[] = [];
  try {
    for (const challenger of spec.challengers ?? []) {
      const model = effectiveModelSpec(record, challenger.model);
      const pinned = record.challengerSha256?.[challenger.name];
      const leased = await deps.scorers
        .acquire(model, pinned, signal, deps.storage, share)
        .catch((error: unknown) => {
          throw forChallenger(error, challenger.name);
        });
      challengers.push({
        name: challenger.name,
        model,
        lease: leased,
        ...(challenger.threshold === undefined ? {} : { threshold: challenger.threshold }),
      });
    }
    const modelSha256 = lease.sha256;
    const challengerSha256 =
      challengers.length > 0
        ? Object.fromEntries(challengers.map((c) => [c.name, c.lease.sha256]))
        : undefined;
    const digests = { modelSha256, ...(challengerSha256 ? { challengerSha256 } : {}) };
    const resumed = await readAcceptedSegments(
      deps.storage,
      layout,
      chunk.index,
      acceptedSegments,
      { specDigest: record.specDigest, ...digests },
      signal,
    );
    const checkpoint = makeChunkCheckpoint({
      deps,
      record,
      chunk,
      attempt,
      layout,
      ...digests,
      writer: deps.writers.writerFor(spec.output.format, spec.output),
      resumed,
      signal,
      log,
    });
    const resumeRow = checkpoint.resumeRow;
    if (resumeRow > 0) log.info({ fromRow: resumeRow, segments: resumed.length }, 'chunk resumed');

    // Under `onInvalidRow: "skip"`, records that cannot be decoded are refused like rows the mapping refuses.
    // Each belongs to the segment holding the stream row after it; those of committed segments are ignored.
    const onSkipped =
      spec.errors.onInvalidRow === 'skip' ? (s: SkippedRecord) => checkpoint.skip(s) : undefined;
    const storage = pinnedStorage(deps.storage, chunk.parts);
    const scored = lease.score({
      format: chunk.format,
      passthrough: spec.output.passthrough,
      ...(spec.output.exclude ? { exclude: spec.output.exclude } : {}),
      ...(chunk.hive ? { hiveColumns: chunk.hive.map((c) => c.name) } : {}),
      batch: spec.batch,
      read: (projection) =>
        moving(
          skipRows(
            meter.decoding(readChunk(deps, storage, record, chunk, signal, projection, onSkipped)),
            resumeRow,
          ),
          progress,
        ),
      locate: (row) => locateChunkRow(chunk, resumeRow + row),
      signal,
      log,
      logFeaturePlan: chunk.index === 0,
      ...(challengers.length > 0 ? { challengers } : {}),
      collectStats: spec.output.report !== false,
    });
    let segmentStartedAt = performance.now();
    // Statistics since the last segment, taken as each segment commits (the last call's take covers all).
    let takeStats: (() => SegmentStats) | undefined;
    for await (const rows of scored) {
      takeStats = rows.takeStats;
      progress();
      signal.throwIfAborted();
      meter.add('map', rows.mapSeconds ?? 0);
      meter.add('infer', rows.inferSeconds ?? 0);
      const writing = performance.now();
      checkpoint.add(
        rows.output,
        rows.rejected.rows.length,
        rows.rejectedKeys && {
          keys: rows.rejectedKeys,
          rows: rows.rejected.rows.map((r) => r + resumeRow),
          columns: rows.rejected.columns,
        },
        rows.columns,
      );
      if (performance.now() - segmentStartedAt >= checkpointMs) {
        await checkpoint.commit(resumeRow + rows.rowStart + rows.rows, false, takeStats?.());
        segmentStartedAt = performance.now();
      }
      meter.add('write', (performance.now() - writing) / 1000);
    }
    // The last segment; a chunk with no rows at all still gets its (empty) part when the schema is known.
    if (checkpoint.pending())
      await meter.time('write', () => checkpoint.commit(checkpoint.rowEnd, true, takeStats?.()));

    const segments = checkpoint.segments;
    const commit: ChunkCommit = {
      index: chunk.index,
      attempt,
      segments,
      rows: segments.reduce((n, seg) => n + seg.rows, 0),
      rejected: segments.reduce((n, seg) => n + seg.rejected, 0),
      bytes: segments.reduce((n, seg) => n + segmentParts(seg).reduce((m, p) => m + p.bytes, 0), 0),
      specDigest: record.specDigest,
      ...digests,
      inputDigest: chunkInputDigest(chunk),
      inputs: chunk.parts.map(({ uri, etag, size }) =>
        etag === undefined ? { uri, size } : { uri, etag, size },
      ),
      seconds: (performance.now() - started) / 1000,
    };
    const counted = await meter.time('commit', () =>
      acceptChunk(deps, jobId, layout, commit, spec.errors.maxInvalidFraction, signal),
    );
    // Before the job can finalize: its manifest carries the usage of every chunk.
    await chargeUsage(deps, jobId, meter, false);
    log.info(
      {
        rows: commit.rows,
        rejected: commit.rejected,
        segments: segments.length,
        first: counted.first,
        seconds: commit.seconds,
      },
      'chunk committed',
    );
    // Counted once per chunk: a re-run that finds its chunk already counted reports nothing.
    if (counted.first) {
      const metrics = deps.metrics ?? noMetrics;
      metrics.rowsScored(commit.rows, commit.rejected);
      metrics.chunkFinished('committed', commit.seconds);
    }
    if (counted.overLimit) return await failOverLimit(deps, jobId, chunk.index, layout.rejected);
    await finishIfLast(deps, jobId, counted);
  } finally {
    lease.release();
    for (const challenger of challengers) challenger.lease.release();
  }
}

/**
 * The job's refused rows passed its limit as this chunk committed: it fails now, its queued chunks are
 * removed and its running ones stop at their next check, instead of scoring the rest first.
 */
async function failOverLimit(
  deps: PipelineDeps,
  jobId: string,
  chunk: number,
  rejectedFolder: string,
): Promise<void> {
  const record = await deps.store.get(jobId);
  if (!record || record.status !== 'running') return;
  const error = new RowsRejectedOverLimit(
    record.progress.rowsRejected,
    record.progress.rowsTotal ?? record.progress.rowsScored + record.progress.rowsRejected,
    record.spec.errors.maxInvalidFraction,
    rejectedFolder,
  );
  await deps.store.transition(jobId, 'failed', {
    error: { code: error.code, message: error.message, uri: error.uri, chunk },
  });
  const removed = await deps.queue.removeQueuedChunks(jobId, record.progress.chunksTotal);
  deps.log.info({ jobId, chunk, code: error.code, removedChunks: removed }, 'job failed early');
}

/**
 * Where row `row` of a chunk's stream lives: its object, and its row there when the plan knows the parts'
 * row counts (Parquet row groups, counted CSV records).
 */
export function locateChunkRow(
  chunk: ChunkDescriptor,
  row: number,
): { uri: string; row?: number } | undefined {
  let rest = row;
  for (const part of chunk.parts) {
    if (part.rows === undefined) return chunk.parts.length === 1 ? { uri: part.uri } : undefined;
    if (rest < part.rows) {
      const offset = part.range.kind === 'whole' ? 0 : (part.range.rowOffset ?? undefined);
      return offset === undefined ? { uri: part.uri } : { uri: part.uri, row: offset + rest };
    }
    rest -= part.rows;
  }
  return undefined;
}

/** The stream as is, calling `progress` for every batch after the first (the stall watchdog listens). */
async function* moving<T>(batches: AsyncIterable<T>, progress: () => void): AsyncGenerator<T> {
  let first = true;
  for await (const batch of batches) {
    if (!first) progress();
    first = false;
    yield batch;
  }
}

/**
 * Hands the job to finalize once every chunk is committed, on the counts the commit returned (or, from
 * planning, the record once the true total is set: streamed planning keeps `chunksTotal` above the done
 * count until then). A job that left `running` meanwhile (cancelled, failed) stays where it is; one already
 * `finalizing` (a re-run of this step) queues its finalize again, which is idempotent.
 */
export async function finishIfLast(
  deps: PipelineDeps,
  jobId: string,
  counts: { chunksDone: number; chunksTotal: number },
): Promise<void> {
  if (counts.chunksDone < counts.chunksTotal) return;
  try {
    await deps.store.transition(jobId, 'finalizing');
  } catch (error) {
    if (error instanceof InvalidJobTransition || error instanceof JobNotFound) return;
    throw error;
  }
  await deps.queue.enqueueFinalize(jobId);
}
