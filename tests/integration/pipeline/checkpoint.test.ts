import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChunkCommit } from '../../../schemas/chunk-commit.js';
import { readAcceptedCommit } from '../../helpers/accepted-commit.js';
import { outputLayout } from '../../../jobs/output-layout.js';
import type { PipelineDeps } from '../../../jobs/pipeline-deps.js';
import { planInput } from '../../../jobs/plan/plan-input.js';
import { processScore } from '../../../jobs/score/process-score.js';
import { parseJobSpec } from '../../../schemas/job-spec.js';
import { makeFormatReaders } from '../../../services/formats/make-reader.js';
import { makeRedisJobStore } from '../../../services/queue/job-store.js';
import type { JobStore } from '../../../jobs/ports/job-store.js';
import { makeRedis } from '../../../services/queue/redis-connection.js';
import { makeScorerPool } from '../../../services/scoring/scorer-pool.js';
import { modelPath } from '../../../scripts/lib/models.js';
import { featureColumns, writeDataset } from '../../helpers/pipeline.js';
import { startS3Server, type TestS3Server } from '../../helpers/s3-server.js';
import { recordingQueue } from '../../helpers/recording-queue.js';
import { type RecordingLog, makeRecordingLog } from '../../helpers/recording-log.js';
import { outputWriters } from '../../../services/formats/writers/make-writer.js';

const ROWS = 20_000;

describe('checkpointed chunks', () => {
  let s3: TestS3Server;
  let redis: Redis;
  let store: JobStore;
  let dir: string;
  const prefix = `{test-${randomUUID().slice(0, 8)}}`;
  const readers = makeFormatReaders();
  let scorers: ReturnType<typeof makeScorerPool>;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'quiver-checkpoint-'));
    s3 = await startS3Server();
    for (const bucket of ['events', 'models', 'scores']) await s3.createBucket(bucket);
    await s3.storage.write('s3://models/mlp.onnx', await readFile(await modelPath('tabular-mlp')));
    await writeDataset(s3.storage, 's3://events/one/', [['data.parquet', 0, ROWS]]);
    redis = makeRedis('redis://127.0.0.1:6379');
    store = makeRedisJobStore(redis, prefix);
    scorers = makeScorerPool({ storage: s3.storage, cacheDir: join(dir, 'models'), intraOpThreads: 1 });
  }, 60_000);

  afterAll(async () => {
    await scorers?.close();
    await readers.close();
    if (redis) {
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length > 0) await redis.del(...keys);
      redis.disconnect();
    }
    await s3?.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** A job in `running` with its single chunk planned, as the plan processor leaves it. */
  async function runningJob(output: string) {
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
    await store.transition(record.id, 'planning');
    const [chunk] = await planInput(s3.storage, readers, spec.input, {
      chunkRows: spec.batch.chunkRows,
      chunkBytes: 1 << 30,
    });
    await store.setChunksTotal(record.id, 1);
    await store.transition(record.id, 'running');
    return {
      id: record.id,
      chunk: chunk!,
      layout: outputLayout(spec.output.uri, record.id, spec.output.format),
    };
  }

  const deps = (log: RecordingLog, checkpointMs: number): PipelineDeps => ({
    store,
    storage: s3.storage,
    readers,
    scorers,
    writers: outputWriters,
    queue: recordingQueue(),
    log,
    checkpointMs,
  });

  async function rowsOf(commit: ChunkCommit): Promise<Array<[bigint, number]>> {
    const rows: Array<[bigint, number]> = [];
    for (const segment of commit.segments) {
      for await (const batch of readers.readerFor('parquet').readPart(s3.storage, {
        uri: segment.part!.uri,
        size: segment.part!.bytes,
        range: { kind: 'whole' },
      })) {
        for (let r = 0; r < batch.numRows; r++)
          rows.push([batch.getChild('id')!.get(r) as bigint, batch.getChild('score')!.get(r) as number]);
      }
    }
    return rows;
  }

  it('a chunk killed after some checkpoints resumes after the last one and scores every row once', async () => {
    // The reference: the same chunk scored in one go.
    const clean = await runningJob('clean');
    await processScore(deps(makeRecordingLog(), 3_600_000), clean.id, clean.chunk);
    const cleanCommit = await readAcceptedCommit(store, s3.storage, clean.layout, clean.id, 0);
    expect(cleanCommit.segments.map((s) => s.part!.uri)).toEqual([
      clean.layout.segmentPart(0, cleanCommit.attempt, 0),
    ]);

    const job = await runningJob('killed');
    const abort = new AbortController();
    // Interrupt the first attempt after its third checkpoint, as a killed worker would stop.
    const firstLog = makeRecordingLog(() => {
      if (firstLog.withMessage('segment committed').length === 3) abort.abort(new Error('worker killed'));
    });
    await expect(processScore(deps(firstLog, 0), job.id, job.chunk, abort.signal)).rejects.toThrow();
    expect(await store.isCommitted(job.id, 0)).toBe(false);
    expect(firstLog.withMessage('segment committed').length).toBeGreaterThanOrEqual(3);

    const secondLog = makeRecordingLog();
    await processScore(deps(secondLog, 0), job.id, job.chunk);
    const [resumed] = secondLog.withMessage('chunk resumed');
    expect(resumed).toMatchObject({ jobId: job.id, chunk: 0, fromRow: expect.any(Number) as unknown });
    const fromRow = resumed!.fromRow as number;
    expect(fromRow).toBeGreaterThanOrEqual(3 * 1_024);
    // Nothing before the resume point was scored again.
    const [firstSegment] = secondLog.withMessage('segment committed');
    expect(firstSegment).toMatchObject({ rowStart: fromRow, attempt: resumed!.attempt });

    const commit = await readAcceptedCommit(store, s3.storage, job.layout, job.id, 0);
    expect(commit.rows).toBe(ROWS);
    commit.segments.forEach((s, i) => expect(s.rowStart).toBe(i === 0 ? 0 : commit.segments[i - 1]!.rowEnd));
    expect(commit.segments.at(-1)!.rowEnd).toBe(ROWS);
    expect(await rowsOf(commit)).toEqual(await rowsOf(cleanCommit));
    expect((await store.get(job.id))!.progress.rowsScored).toBe(ROWS);
  });
});
