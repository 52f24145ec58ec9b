import { createHash, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readAcceptedCommits } from '../../../jobs/chunk-commits.js';
import { processFinalize } from '../../../jobs/finalize/process-finalize.js';
import { type OutputLayout, outputLayout, segmentRef } from '../../../jobs/output-layout.js';
import type { PipelineDeps } from '../../../jobs/pipeline-deps.js';
import { processPlan } from '../../../jobs/plan/process-plan.js';
import { processScore } from '../../../jobs/score/process-score.js';
import { submitJob } from '../../../jobs/submit-job.js';
import type { ChunkCommit } from '../../../schemas/chunk-commit.js';
import type { ChunkDescriptor } from '../../../schemas/chunk-descriptor.js';
import type { JobRecord } from '../../../schemas/job-record.js';
import { type JobSpecInput, parseJobSpec } from '../../../schemas/job-spec.js';
import { type Manifest, manifestSchema } from '../../../schemas/manifest.js';
import { makeFormatReaders } from '../../../services/formats/make-reader.js';
import { makeScorerPool } from '../../../services/scoring/scorer-pool.js';
import { StorageNotFound } from '../../../jobs/ports/errors/storage-not-found.js';
import type { ReadOptions, Storage, WriteOptions } from '../../../jobs/ports/storage.js';
import { type PipelineWorker, makePipelineWorker } from '../../../services/worker/pipeline-worker.js';
import { modelPath } from '../../../scripts/lib/models.js';
import { readAcceptedCommit } from '../../helpers/accepted-commit.js';
import { featureColumns, startPipeline, writeDataset, type TestPipeline } from '../../helpers/pipeline.js';
import { startS3Server, type TestS3Server } from '../../helpers/s3-server.js';
import { recordingQueue } from '../../helpers/recording-queue.js';
import { type LogRecord, type RecordingLog, makeRecordingLog } from '../../helpers/recording-log.js';
import { outputWriters } from '../../../services/formats/writers/make-writer.js';

/** Rows of the one-chunk dataset of the zombie test. */
const ONE_ROWS = 20_000;
/** Rows of the eight-chunk dataset (2,048-row chunks of 1,024-row groups). */
const MULTI_ROWS = 16_384;
const MULTI_CHUNKS = 8;

type Row = [bigint, number];

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, predicate: () => boolean | Promise<boolean>, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

function deferred<T = void>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** A gate that holds callers until opened; a held caller whose signal aborts is rejected. */
function makeGate() {
  let open = false;
  const waiters: Array<() => void> = [];
  return {
    held: 0,
    get isOpen() {
      return open;
    },
    wait(signal?: AbortSignal): Promise<void> {
      if (open) return Promise.resolve();
      this.held++;
      return new Promise<void>((resolve, reject) => {
        waiters.push(resolve);
        signal?.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
      });
    },
    open() {
      open = true;
      for (const w of waiters.splice(0)) w();
    },
  };
}

/** `inner` with `read` and/or `write` intercepted. */
function wrapStorage(
  inner: Storage,
  hooks: {
    read?: (uri: string, options?: ReadOptions) => Promise<void> | void;
    write?: (uri: string, options?: WriteOptions) => Promise<void> | void;
  },
): Storage {
  return {
    ...inner,
    list: (uri, o) => inner.list(uri, o),
    stat: (uri, o) => inner.stat(uri, o),
    delete: (uri, o) => inner.delete(uri, o),
    async read(uri, range, o) {
      await hooks.read?.(uri, o);
      return inner.read(uri, range, o);
    },
    async write(uri, body, o) {
      await hooks.write?.(uri, o);
      return inner.write(uri, body, o);
    },
  };
}

/** Every object under a job's folder. */
async function listed(storage: Storage, layout: OutputLayout): Promise<string[]> {
  const uris: string[] = [];
  for await (const o of storage.list(`${layout.root}/`)) uris.push(o.uri);
  return uris.sort();
}

async function exists(storage: Storage, uri: string): Promise<boolean> {
  try {
    await storage.stat(uri);
    return true;
  } catch (error) {
    if (error instanceof StorageNotFound) return false;
    throw error;
  }
}

/** What the accepted commits reference, computed from the markers themselves. */
function referencedBy(layout: OutputLayout, commits: readonly ChunkCommit[]): Set<string> {
  const uris = new Set<string>();
  for (const c of commits) {
    uris.add(layout.commit(c.index, c.attempt));
    for (const s of c.segments) {
      uris.add(layout.segmentMarker(c.index, segmentRef(s.rowStart, s.attempt)));
      uris.add(s.part!.uri);
      if (s.rejectedFile) uris.add(s.rejectedFile.uri);
    }
  }
  return uris;
}

const layoutOf = (record: JobRecord): OutputLayout =>
  outputLayout(record.spec.output.uri, record.id, record.spec.output.format);

describe('exactly-once output under zombies, replaced models and inputs, and lost Redis', () => {
  let s3: TestS3Server;
  let dir: string;
  let mlpBytes: Buffer;
  let treeBytes: Buffer;
  let mlpDigest: string;
  let treeDigest: string;
  /** (id, score) of the eight-chunk dataset scored cleanly by the MLP, by id. */
  let multiClean: Row[];
  const readers = makeFormatReaders();
  const pipelines: TestPipeline[] = [];
  const workers: TestWorker[] = [];

  interface TestWorker {
    worker: PipelineWorker;
    logs: LogRecord[];
    cacheDir: string;
    close(): Promise<void>;
  }

  /**
   * Another worker process's share of the pipeline on `pipeline`'s prefix: its own scorer pool (and model
   * cache, unless `cacheDir` names another's), readers and storage.
   */
  async function startWorker(
    pipeline: TestPipeline,
    options: {
      storage?: Storage;
      cacheDir?: string;
      scoreConcurrency?: number;
      onLog?: (entry: LogRecord) => void;
    } = {},
  ): Promise<TestWorker> {
    const cacheDir = options.cacheDir ?? (await mkdtemp(join(dir, 'models-')));
    const storage = options.storage ?? s3.storage;
    const workerReaders = makeFormatReaders();
    const scorers = makeScorerPool({ storage, cacheDir, intraOpThreads: 1 });
    const log = makeRecordingLog(options.onLog);
    const logs = log.records;
    const worker = makePipelineWorker({
      connection: pipeline.redis,
      prefix: pipeline.prefix,
      queues: pipeline.queues,
      ...(options.scoreConcurrency === undefined ? {} : { scoreConcurrency: options.scoreConcurrency }),
      deps: {
        store: pipeline.store,
        storage,
        readers: workerReaders,
        scorers,
        writers: outputWriters,
        log,
      },
    });
    let closing: Promise<void> | undefined;
    const made: TestWorker = {
      worker,
      logs,
      cacheDir,
      close() {
        closing ??= (async () => {
          await worker.close();
          await scorers.close();
          await workerReaders.close();
        })();
        return closing;
      },
    };
    workers.push(made);
    return made;
  }

  /** A pipeline on a fresh prefix whose own worker is closed: the test starts the workers it needs. */
  async function pipelineWithoutWorker(): Promise<TestPipeline> {
    const pipeline = await startPipeline({ storage: s3.storage });
    pipelines.push(pipeline);
    await pipeline.worker.close();
    return pipeline;
  }

  const submit = async (pipeline: TestPipeline, body: JobSpecInput, idempotencyKey?: string) =>
    (
      await submitJob(
        { store: pipeline.store, queue: pipeline.queues },
        body,
        idempotencyKey === undefined ? {} : { idempotencyKey },
      )
    ).record;

  const multiSpec = (output: string, overrides: Partial<JobSpecInput> = {}): JobSpecInput => ({
    input: { uri: 's3://events/multi/', format: 'parquet' },
    model: {
      uri: 's3://models/mlp.onnx',
      inputs: { features: { columns: featureColumns, nulls: 'fail' } },
      outputs: { score: { column: 'score' } },
    },
    output: { uri: `s3://scores/${output}/`, passthrough: ['id'] },
    batch: { rows: 1_024, chunkRows: 2_048 },
    ...overrides,
  });

  /** Every (id, score) of a part, read as a reader of the output would. */
  async function rowsOfPart(uri: string, bytes: number): Promise<Row[]> {
    const rows: Row[] = [];
    for await (const batch of readers
      .readerFor('parquet')
      .readPart(s3.storage, { uri, size: bytes, range: { kind: 'whole' } })) {
      for (let r = 0; r < batch.numRows; r++)
        rows.push([batch.getChild('id')!.get(r) as bigint, batch.getChild('score')!.get(r) as number]);
    }
    return rows;
  }

  /**
   * The job's manifest, checked as a downloader would: every part exists with the listed bytes and
   * sha256 and holds the listed rows. Returns it with its rows in manifest order.
   */
  async function verifiedManifest(record: JobRecord): Promise<{ manifest: Manifest; rows: Row[] }> {
    const layout = layoutOf(record);
    expect(record.output.manifestUri).toBe(layout.manifest);
    const manifest = manifestSchema.parse(
      JSON.parse(new TextDecoder().decode(await s3.storage.read(layout.manifest))),
    );
    expect(await exists(s3.storage, layout.success)).toBe(true);
    const rows: Row[] = [];
    for (const part of manifest.parts) {
      expect((await s3.storage.stat(part.uri)).size, part.uri).toBe(part.bytes);
      const bytes = await s3.storage.read(part.uri);
      expect(bytes.byteLength, part.uri).toBe(part.bytes);
      expect(sha256(bytes), part.uri).toBe(part.sha256);
      const partRows = await rowsOfPart(part.uri, part.bytes);
      expect(partRows.length, part.uri).toBe(part.rows);
      rows.push(...partRows);
    }
    expect(manifest.rowsScored).toBe(rows.length);
    return { manifest, rows };
  }

  const byId = (rows: Row[]): Row[] => [...rows].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'quiver-exactly-once-'));
    s3 = await startS3Server();
    for (const bucket of ['events', 'models', 'scores']) await s3.createBucket(bucket);
    mlpBytes = await readFile(await modelPath('tabular-mlp'));
    treeBytes = await readFile(await modelPath('tree-ensemble'));
    mlpDigest = sha256(mlpBytes);
    treeDigest = sha256(treeBytes);
    expect(treeDigest).not.toBe(mlpDigest);
    await s3.storage.write('s3://models/mlp.onnx', mlpBytes);
    await writeDataset(s3.storage, 's3://events/one/', [['data.parquet', 0, ONE_ROWS]]);
    await writeDataset(s3.storage, 's3://events/multi/', [['data.parquet', 0, MULTI_ROWS]], {
      rowGroupRows: 1_024,
    });
    // The reference output of the eight-chunk dataset.
    const pipeline = await startPipeline({ storage: s3.storage });
    pipelines.push(pipeline);
    const done = await pipeline.settle((await submit(pipeline, multiSpec('multi-clean'))).id);
    expect(done.status, JSON.stringify(done.error)).toBe('succeeded');
    expect(done.progress.chunksTotal).toBe(MULTI_CHUNKS);
    multiClean = byId((await verifiedManifest(done)).rows);
    expect(multiClean.map((r) => r[0])).toEqual(Array.from({ length: MULTI_ROWS }, (_, i) => BigInt(i)));
    await pipeline.close();
  }, 60_000);

  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.close()));
    await Promise.all(pipelines.splice(0).map((p) => p.close()));
  });

  afterAll(async () => {
    await Promise.all(workers.map((w) => w.close()));
    await Promise.all(pipelines.map((p) => p.close()));
    await readers.close();
    await s3?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('a zombie attempt released after the job succeeded changes nothing the manifest references', async () => {
    const pipeline = await pipelineWithoutWorker();
    const { store } = pipeline;
    const scorers = makeScorerPool({ storage: s3.storage, cacheDir: join(dir, 'zombie-models') });
    try {
      /** In-process deps: chunks and finalize requests are collected, not queued. */
      const local = (log: RecordingLog, o: { storage?: Storage; checkpointMs?: number } = {}) => {
        const queued: ChunkDescriptor[] = [];
        const finalizing: string[] = [];
        const deps: PipelineDeps = {
          store,
          storage: o.storage ?? s3.storage,
          readers,
          scorers,
          writers: outputWriters,
          queue: {
            ...recordingQueue(),
            enqueueChunks: (_id, chunks) => {
              queued.push(...chunks);
              return Promise.resolve();
            },
            enqueueFinalize: (id) => {
              finalizing.push(id);
              return Promise.resolve();
            },
          },
          log,
          ...(o.checkpointMs === undefined ? {} : { checkpointMs: o.checkpointMs }),
        };
        return { deps, queued, finalizing };
      };
      /** A job planned as the plan processor plans it: `running`, its one chunk returned. */
      const planned = async (output: string) => {
        const spec = parseJobSpec({
          input: { uri: 's3://events/one/', format: 'parquet' },
          model: {
            uri: 's3://models/mlp.onnx',
            inputs: { features: { columns: featureColumns, nulls: 'fail' } },
            outputs: { score: { column: 'score' } },
          },
          output: { uri: `s3://scores/${output}/`, passthrough: ['id'] },
          batch: { rows: 1_024, chunkRows: 1_000_000 },
        });
        const { record } = await store.create(spec);
        const plan = local(makeRecordingLog());
        await processPlan(plan.deps, record.id);
        expect(plan.queued).toHaveLength(1);
        const running = (await store.get(record.id))!;
        expect(running.status).toBe('running');
        expect(running.modelSha256).toBe(mlpDigest);
        return { record: running, chunk: plan.queued[0]!, layout: layoutOf(running) };
      };

      // The reference: the same chunk scored cleanly in one attempt.
      const clean = await planned('zombie-clean');
      const cleanRun = local(makeRecordingLog(), { checkpointMs: 3_600_000 });
      await processScore(cleanRun.deps, clean.record.id, clean.chunk);
      expect(cleanRun.finalizing).toEqual([clean.record.id]);
      await processFinalize(cleanRun.deps, clean.record.id);
      const cleanDone = (await store.get(clean.record.id))!;
      expect(cleanDone.status).toBe('succeeded');
      const cleanRows = (await verifiedManifest(cleanDone)).rows;
      expect(cleanRows).toHaveLength(ONE_ROWS);

      const job = await planned('zombie');
      const id = job.record.id;
      // Attempt A checkpoints after every scored call; once its first segment is accepted, its next write
      // (the second segment's part, after its fencing check passed) blocks until the gate opens.
      let armed = false;
      const logA = makeRecordingLog((record) => {
        if (record.msg === 'segment committed') armed = true;
      });
      const logsA = logA.records;
      const blocked = deferred<string>();
      const gate = makeGate();
      const writtenAfterBlock: string[] = [];
      const storageA = wrapStorage(s3.storage, {
        write: async (uri) => {
          if (!armed) return;
          writtenAfterBlock.push(uri);
          if (writtenAfterBlock.length === 1) {
            blocked.resolve(uri);
            await gate.wait();
          }
        },
      });
      const a = local(logA, { storage: storageA, checkpointMs: 0 });
      const attemptA = processScore(a.deps, id, job.chunk);
      const blockedUri = await blocked.promise;
      const firstSegment = logsA.find((l) => l.msg === 'segment committed')!;
      const idA = firstSegment.attempt as string;
      const firstEnd = firstSegment.rowEnd as number;
      expect(firstSegment.rowStart).toBe(0);
      expect(firstEnd).toBeGreaterThan(0);
      expect(firstEnd).toBeLessThan(ONE_ROWS);
      expect(blockedUri).toBe(job.layout.segmentPart(0, idA, firstEnd));

      // Attempt B takes the chunk over, resumes after A's accepted segment and completes; finalize runs.
      const logB = makeRecordingLog();
      const logsB = logB.records;
      const b = local(logB);
      await processScore(b.deps, id, job.chunk);
      const resumed = logsB.find((l) => l.msg === 'chunk resumed');
      expect(resumed).toMatchObject({ fromRow: firstEnd, segments: 1 });
      const committedB = logsB.find((l) => l.msg === 'chunk committed');
      expect(committedB).toBeDefined();
      const idB = committedB!.attempt as string;
      expect(idB).not.toBe(idA);
      expect(b.finalizing).toEqual([id]);
      await processFinalize(b.deps, id);
      expect((await store.get(id))!.status).toBe('succeeded');

      // A is released: its blocked write goes through, then its commit is refused and it stops quietly.
      gate.open();
      await expect(attemptA).resolves.toBeUndefined();
      const stopped = logsA.find((l) => l.msg === 'attempt stopped');
      expect(stopped?.attempt).toBe(idA);
      expect(stopped?.state).not.toBe('current');
      expect(logsA.some((l) => l.msg === 'chunk committed')).toBe(false);
      expect(writtenAfterBlock[0]).toBe(blockedUri);

      const done = (await store.get(id))!;
      expect(done.status).toBe('succeeded');
      expect(done.progress).toMatchObject({ chunksDone: 1, chunksTotal: 1, rowsScored: ONE_ROWS });
      const accepted = await readAcceptedCommit(store, s3.storage, job.layout, id, 0);
      expect(accepted.attempt).toBe(idB);
      expect(accepted.rows).toBe(ONE_ROWS);
      expect(accepted.segments.map((s) => [s.attempt, s.rowStart, s.rowEnd])).toEqual([
        [idA, 0, firstEnd],
        [idB, firstEnd, ONE_ROWS],
      ]);
      expect(accepted.modelSha256).toBe(mlpDigest);

      const { manifest, rows } = await verifiedManifest(done);
      expect(manifest.modelSha256).toBe(done.modelSha256);
      expect(manifest.inputRows).toBe(ONE_ROWS);
      expect(manifest.parts.map((p) => p.uri)).toEqual(accepted.segments.map((s) => s.part!.uri));
      expect(rows).toEqual(cleanRows);

      // Nothing A wrote after it blocked is referenced, and A deleted it once refused.
      const referenced = referencedBy(job.layout, [accepted]);
      for (const uri of writtenAfterBlock) {
        expect(referenced.has(uri), uri).toBe(false);
        expect(manifest.parts.some((p) => p.uri === uri)).toBe(false);
        expect(await exists(s3.storage, uri), uri).toBe(false);
      }

      // What a zombie that could not clean up after itself would leave (a part and a marker under another
      // attempt's names): a re-run finalize sweeps the succeeded job's folder down to what is referenced.
      const stray = [job.layout.segmentPart(0, 'zzzzzzzzzzzz', 0), job.layout.commit(0, 'zzzzzzzzzzzz')];
      await s3.storage.write(stray[0]!, await s3.storage.read(accepted.segments[0]!.part!.uri));
      await s3.storage.write(stray[1]!, await s3.storage.read(job.layout.commit(0, idB)));
      await processFinalize(b.deps, id);
      for (const uri of stray) expect(await exists(s3.storage, uri), uri).toBe(false);
      const keep = new Set([job.layout.manifest, job.layout.success, job.layout.report, ...referenced]);
      expect(await listed(s3.storage, job.layout)).toEqual([...keep].sort());
    } finally {
      await scorers.close();
    }
  });

  /**
   * A job on an unpinned model whose first worker commits one chunk and stops; the model object is then
   * replaced with another one that takes the same inputs (the tree ensemble for the MLP).
   */
  async function modelSwappedAfterFirstChunk(name: string, replacement = treeBytes) {
    const uri = `s3://models/${name}.onnx`;
    await s3.storage.write(uri, mlpBytes);
    const pipeline = await pipelineWithoutWorker();
    const first: TestWorker = await startWorker(pipeline, {
      scoreConcurrency: 1,
      onLog: (e) => {
        if (e.msg === 'chunk committed') void first.worker.close();
      },
    });
    const record = await submit(pipeline, multiSpec(name, { model: { ...multiSpec('').model, uri } }));
    await until('a first committed chunk', () => first.logs.some((l) => l.msg === 'chunk committed'));
    await first.close();
    await s3.storage.write(uri, replacement);
    return { pipeline, first, record };
  }

  it('an unpinned model overwritten mid-job: a fresh worker without the planned bytes fails the job with MODEL_CHANGED', async () => {
    const { pipeline, record } = await modelSwappedAfterFirstChunk('swap-a');
    const second = await startWorker(pipeline);

    const done = await pipeline.settle(record.id);
    expect(done.status).toBe('failed');
    expect(done.error?.code).toBe('MODEL_CHANGED');
    expect(done.error?.message).toContain('s3://models/swap-a.onnx');
    expect(done.error?.message).toContain(mlpDigest);
    expect(done.error?.message).toContain(treeDigest);
    expect(done.modelSha256).toBe(mlpDigest);
    expect(second.logs.some((l) => l.msg === 'chunk committed')).toBe(false);

    // Never a mix: what was accepted was scored with the planned digest, and nothing is published.
    const layout = layoutOf(done);
    const commits = await readAcceptedCommits(
      s3.storage,
      layout,
      await pipeline.store.acceptedCommits(done.id),
    );
    expect(commits.length).toBeGreaterThanOrEqual(1);
    expect(commits.length).toBeLessThan(MULTI_CHUNKS);
    for (const c of commits) expect(c.modelSha256).toBe(mlpDigest);
    const objects = await listed(s3.storage, layout);
    expect(objects).not.toContain(layout.success);
    expect(objects).not.toContain(layout.manifest);
  });

  it('a model re-uploaded with the same bytes mid-job: a fresh worker sharing the cache scores every row with them', async () => {
    // A new object (new ETag) of the digest's size: the cached copy stands (a cache hit needs the URI to
    // still serve an object of that size, DESIGN invariant 9), and every row is scored by the one model.
    const { pipeline, first, record } = await modelSwappedAfterFirstChunk('swap-b', mlpBytes);
    // Another worker on the same host: a new scorer pool over the same content-addressed cache.
    const second = await startWorker(pipeline, { cacheDir: first.cacheDir });

    const done = await pipeline.settle(record.id);
    expect(done.status, JSON.stringify(done.error)).toBe('succeeded');
    expect(second.logs.filter((l) => l.msg === 'chunk committed').length).toBeGreaterThanOrEqual(1);
    expect(done.modelSha256).toBe(mlpDigest);
    const layout = layoutOf(done);
    const commits = await readAcceptedCommits(
      s3.storage,
      layout,
      await pipeline.store.acceptedCommits(done.id),
    );
    expect(commits).toHaveLength(MULTI_CHUNKS);
    for (const c of commits) expect(c.modelSha256).toBe(mlpDigest);
    const { manifest, rows } = await verifiedManifest(done);
    expect(manifest.modelSha256).toBe(mlpDigest);
    expect(byId(rows)).toEqual(multiClean);
  });

  it('an input object replaced mid-job fails the job with INPUT_CHANGED and publishes nothing', async () => {
    const input = 's3://events/replaced/data.parquet';
    await writeDataset(s3.storage, 's3://events/replaced/', [['data.parquet', 0, MULTI_ROWS]], {
      rowGroupRows: 1_024,
    });
    const pipeline = await pipelineWithoutWorker();
    // Once a chunk is committed, the worker's reads of the input wait until the object has been replaced.
    const gate = makeGate();
    let committed = false;
    const storage = wrapStorage(s3.storage, {
      read: (uri, o) => (committed && uri === input ? gate.wait(o?.signal) : undefined),
    });
    const worker = await startWorker(pipeline, {
      storage,
      scoreConcurrency: 1,
      onLog: (e) => {
        if (e.msg === 'chunk committed') committed = true;
      },
    });
    const record = await submit(
      pipeline,
      multiSpec('replaced', { input: { uri: 's3://events/replaced/', format: 'parquet' } }),
    );
    await until('a held read after the first commit', () => gate.held > 0);
    const before = await s3.storage.stat(input);
    await writeDataset(s3.storage, 's3://events/replaced/', [['data.parquet', 1_000, MULTI_ROWS]], {
      rowGroupRows: 1_024,
    });
    expect((await s3.storage.stat(input)).etag).not.toBe(before.etag);
    gate.open();

    const done = await pipeline.settle(record.id);
    expect(done.status).toBe('failed');
    expect(done.error?.code).toBe('INPUT_CHANGED');
    expect(done.error?.message).toContain(input);
    expect(done.error?.chunk).toBeGreaterThanOrEqual(1);
    // What was accepted before the replacement read the version planning saw.
    const commits = await readAcceptedCommits(
      s3.storage,
      layoutOf(done),
      await pipeline.store.acceptedCommits(done.id),
    );
    expect(commits.length).toBe(done.progress.chunksDone);
    for (const c of commits) expect(c.inputs).toEqual([{ uri: input, etag: before.etag, size: before.size }]);
    expect(done.progress.chunksDone).toBeGreaterThanOrEqual(1);
    expect(done.progress.chunksDone).toBeLessThan(MULTI_CHUNKS);
    expect(worker.logs.filter((l) => l.msg === 'chunk committed').length).toBeLessThan(MULTI_CHUNKS);
    const objects = await listed(s3.storage, layoutOf(done));
    expect(objects).not.toContain(layoutOf(done).success);
    expect(objects).not.toContain(layoutOf(done).manifest);
  });

  it('Redis lost while chunks run: the resubmitted job adopts committed chunks, scores the rest, every row once', async () => {
    const pipeline = await pipelineWithoutWorker();
    const key = `flush-${randomUUID()}`;
    // Once a chunk is committed, reads of the input are held: chunks are mid-flight when Redis is lost.
    const gate = makeGate();
    let committed = false;
    /** Every part written, in order: `[chunk index, uri]`. */
    const partWrites: Array<[number, string]> = [];
    const storage = wrapStorage(s3.storage, {
      read: (uri, o) =>
        committed && uri.startsWith('s3://events/multi/') ? gate.wait(o?.signal) : undefined,
      write: (uri) => {
        const m = /\/part-(\d{5})-[0-9a-z]+(-r\d+)?\.parquet$/.exec(uri);
        if (m) partWrites.push([Number(m[1]), uri]);
      },
    });
    const worker = await startWorker(pipeline, {
      storage,
      onLog: (e) => {
        if (e.msg === 'chunk committed') committed = true;
      },
    });
    const first = await submit(pipeline, multiSpec('flush'), key);
    await until('chunks held mid-flight', () => gate.held > 0);
    const committedBefore = new Set(
      worker.logs
        .filter((l) => l.msg === 'chunk committed' && l.jobId === first.id)
        .map((l) => l.chunk as number),
    );
    expect(committedBefore.size).toBeGreaterThanOrEqual(1);
    expect(committedBefore.size).toBeLessThan(MULTI_CHUNKS);
    expect((await pipeline.store.get(first.id))!.status).toBe('running');

    // "FLUSHALL", limited to this pipeline's keys (the Redis is shared with other tests).
    const keys = await pipeline.redis.keys(`${pipeline.prefix}*`);
    expect(keys.length).toBeGreaterThan(0);
    await pipeline.redis.del(...keys);
    expect(await pipeline.store.get(first.id)).toBeUndefined();
    gate.open();

    const logMark = worker.logs.length;
    const writeMark = partWrites.length;
    const again = await submit(pipeline, multiSpec('flush'), key);
    expect(again.id).toBe(first.id);
    const done = await pipeline.settle(again.id);
    expect(done.status, JSON.stringify(done.error)).toBe('succeeded');

    const after = worker.logs.slice(logMark).filter((l) => l.jobId === done.id);
    const replanned = after.find((l) => l.msg === 'planned');
    expect(replanned?.alreadyCommitted).toBeGreaterThanOrEqual(committedBefore.size);
    // Chunks committed before the loss were not scored again: no part written for them, no commit.
    const rescored = partWrites.slice(writeMark).filter(([index]) => committedBefore.has(index));
    expect(rescored).toEqual([]);
    const recommitted = after.filter(
      (l) => l.msg === 'chunk committed' && committedBefore.has(l.chunk as number),
    );
    expect(recommitted).toEqual([]);
    // Each chunk was counted by exactly one commit across both lives.
    const commitsPerChunk = new Map<number, number>();
    for (const l of worker.logs)
      if (l.msg === 'chunk committed' && l.jobId === done.id && l.first === true)
        commitsPerChunk.set(l.chunk as number, (commitsPerChunk.get(l.chunk as number) ?? 0) + 1);
    for (const [index, n] of commitsPerChunk) expect(n, `chunk ${index}`).toBe(1);

    expect(done.progress).toMatchObject({
      chunksDone: MULTI_CHUNKS,
      rowsScored: MULTI_ROWS,
      rowsRejected: 0,
    });
    const { manifest, rows } = await verifiedManifest(done);
    expect(manifest.inputRows).toBe(MULTI_ROWS);
    expect(new Set(manifest.parts.map((p) => p.index)).size).toBe(MULTI_CHUNKS);
    // Every input row exactly once, with the clean run's score.
    expect(byId(rows)).toEqual(multiClean);
  });

  it('after Redis is lost, a commit marker naming another model digest is not adopted: that chunk is scored again', async () => {
    const pipeline = await pipelineWithoutWorker();
    const worker = await startWorker(pipeline);
    const key = `forged-${randomUUID()}`;
    const first = await pipeline.settle((await submit(pipeline, multiSpec('forged'), key)).id);
    expect(first.status, JSON.stringify(first.error)).toBe('succeeded');
    const layout = layoutOf(first);
    const forgedChunk = 2;
    const real = await readAcceptedCommit(pipeline.store, s3.storage, layout, first.id, forgedChunk);
    expect(real.modelSha256).toBe(mlpDigest);

    // Redis loses the job; chunk 2's marker now claims another model scored it (every object it names is
    // still there, so only the digest can keep it from being adopted).
    const keys = await pipeline.redis.keys(`${pipeline.prefix}*`);
    await pipeline.redis.del(...keys);
    const forgedUri = layout.commit(forgedChunk, real.attempt);
    const forgedDigest = 'ab'.repeat(32);
    await s3.storage.write(
      forgedUri,
      new TextEncoder().encode(JSON.stringify({ ...real, modelSha256: forgedDigest })),
    );
    const logMark = worker.logs.length;
    const again = await submit(pipeline, multiSpec('forged'), key);
    expect(again.id).toBe(first.id);
    const done = await pipeline.settle(again.id);
    expect(done.status, JSON.stringify(done.error)).toBe('succeeded');

    const after = worker.logs.slice(logMark);
    expect(after.find((l) => l.msg === 'commit marker not adopted')).toMatchObject({
      jobId: done.id,
      chunk: forgedChunk,
      uri: forgedUri,
      reason: 'another model',
    });
    expect(after.find((l) => l.msg === 'planned')?.alreadyCommitted).toBe(MULTI_CHUNKS - 1);
    const rescored = after.filter((l) => l.msg === 'chunk committed');
    expect(rescored.map((l) => l.chunk)).toEqual([forgedChunk]);

    const accepted = await readAcceptedCommit(pipeline.store, s3.storage, layout, done.id, forgedChunk);
    expect(accepted.attempt).not.toBe(real.attempt);
    expect(accepted.modelSha256).toBe(mlpDigest);
    const { manifest, rows } = await verifiedManifest(done);
    expect(manifest.modelSha256).toBe(mlpDigest);
    expect(byId(rows)).toEqual(multiClean);
    // The forged marker is referenced by nothing any more, and finalize's sweep removed it.
    expect(await exists(s3.storage, forgedUri)).toBe(false);
  });

  it('a job whose first chunks are all invalid fails early with ROWS_REJECTED_OVER_LIMIT', async () => {
    const rows = 40_000;
    await writeNullHeadDataset(s3.storage, 's3://events/bad-head/data.parquet', rows, 4_096);
    const pipeline = await pipelineWithoutWorker();
    const worker = await startWorker(pipeline);
    const record = await submit(
      pipeline,
      multiSpec('bad-head', {
        input: { uri: 's3://events/bad-head/', format: 'parquet' },
        batch: { rows: 1_024, chunkRows: 1_024 },
        errors: { onInvalidRow: 'skip', maxInvalidFraction: 0.01 },
      }),
    );
    const done = await pipeline.settle(record.id);
    expect(done.status).toBe('failed');
    expect(done.error?.code).toBe('ROWS_REJECTED_OVER_LIMIT');
    // DuckDB writes row groups of at least 2,048 rows: about 20 chunks of one group each.
    expect(done.progress.chunksTotal).toBeGreaterThanOrEqual(Math.ceil(rows / 2_048));
    const seen = done.progress.rowsScored + done.progress.rowsRejected;
    expect(done.progress.rowsRejected).toBeGreaterThan(0.01 * rows);
    expect(seen).toBeLessThan(rows / 2);
    expect(done.progress.chunksDone).toBeLessThan(done.progress.chunksTotal / 2);
    // Logged right after the transition settle saw.
    await until('the early failure log', () =>
      worker.logs.some((l) => l.msg === 'job failed early' && l.jobId === done.id),
    );
    const objects = await listed(s3.storage, layoutOf(done));
    expect(objects).not.toContain(layoutOf(done).success);
    expect(objects).not.toContain(layoutOf(done).manifest);
  });
});

/**
 * One Parquet file of `id` + f0..f63 (writeDataset's values) with f3 null in the first `nullRows` rows,
 * in 1,024-row groups.
 */
async function writeNullHeadDataset(storage: Storage, uri: string, rows: number, nullRows: number) {
  const dir = await mkdtemp(join(tmpdir(), 'quiver-dataset-'));
  const duck = await DuckDBInstance.create(':memory:');
  const connection = await duck.connect();
  try {
    const path = join(dir, 'data.parquet');
    const cols = featureColumns
      .map((c, j) =>
        c === 'f3'
          ? `CASE WHEN range < ${nullRows} THEN NULL ELSE ((range * 7 + ${j}) % 101) / 101.0 END::FLOAT AS ${c}`
          : `((range * 7 + ${j}) % 101 / 101.0)::FLOAT AS ${c}`,
      )
      .join(', ');
    await connection.run(
      `COPY (SELECT range::BIGINT AS id, ${cols} FROM range(${rows})) TO '${path}' (FORMAT parquet, ROW_GROUP_SIZE 1024)`,
    );
    await storage.write(uri, await readFile(path));
  } finally {
    connection.closeSync();
    duck.closeSync();
    await rm(dir, { recursive: true, force: true });
  }
}
