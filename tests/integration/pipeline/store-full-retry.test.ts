import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ReplyError } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { submitJob } from '../../../jobs/submit-job.js';
import type { JobRecord } from '../../../schemas/job-record.js';
import { manifestSchema } from '../../../schemas/manifest.js';
import { makeFormatReaders } from '../../../services/formats/make-reader.js';
import { makeRedisJobStore } from '../../../services/queue/job-store.js';
import type { JobStore } from '../../../jobs/ports/job-store.js';
import { makeQueues } from '../../../services/queue/queues.js';
import { makeRedis } from '../../../services/queue/redis-connection.js';
import { makeScorerPool } from '../../../services/scoring/scorer-pool.js';
import { makePipelineWorker } from '../../../services/worker/pipeline-worker.js';
import { modelPath } from '../../../scripts/lib/models.js';
import { featureColumns, writeDataset } from '../../helpers/pipeline.js';
import { startS3Server, type TestS3Server } from '../../helpers/s3-server.js';
import { lastRecords, makeRecordingLog } from '../../helpers/recording-log.js';
import { outputWriters } from '../../../services/formats/writers/make-writer.js';

const ROWS = 6_000;

/** Redis's reply to a write at maxmemory, as ioredis surfaces it. */
const oomReply = (): Error =>
  new (ReplyError as new (message: string) => Error)(
    "OOM command not allowed when used memory > 'maxmemory'.",
  );

describe('a worker whose commit meets a full Redis', () => {
  let s3: TestS3Server;

  beforeAll(async () => {
    s3 = await startS3Server();
    for (const bucket of ['events', 'models', 'scores']) await s3.createBucket(bucket);
    await s3.storage.write('s3://models/mlp.onnx', await readFile(await modelPath('tabular-mlp')));
    await writeDataset(s3.storage, 's3://events/day/', [['a.parquet', 0, ROWS]]);
  }, 120_000);

  afterAll(async () => {
    await s3?.close();
  });

  it('retries the chunk (not failed as permanent, not lost): the job succeeds with every row', async () => {
    const prefix = `{test-${randomUUID().slice(0, 8)}}`;
    const dir = await mkdtemp(join(tmpdir(), 'quiver-store-full-'));
    const redis = makeRedis('redis://127.0.0.1:6379');
    const store = makeRedisJobStore(redis, prefix);
    // The first chunk commit is refused as Redis refuses writes at maxmemory; later ones go through.
    const refused: number[] = [];
    const full: JobStore = {
      ...store,
      commitChunk: (id, index, ...rest) => {
        if (refused.length > 0) return store.commitChunk(id, index, ...rest);
        refused.push(index);
        return Promise.reject(oomReply());
      },
    };
    const queues = makeQueues(redis, prefix);
    const readers = makeFormatReaders();
    const scorers = makeScorerPool({ storage: s3.storage, cacheDir: join(dir, 'models'), intraOpThreads: 1 });
    const log = makeRecordingLog();
    const worker = makePipelineWorker({
      connection: redis,
      prefix,
      queues,
      deps: {
        store: full,
        storage: s3.storage,
        readers,
        scorers,
        writers: outputWriters,
        log,
      },
    });
    try {
      const { record } = await submitJob(
        { store, queue: queues },
        {
          input: { uri: 's3://events/day/', format: 'parquet' },
          model: {
            uri: 's3://models/mlp.onnx',
            inputs: { features: { columns: featureColumns } },
            outputs: { score: { column: 'score' } },
          },
          output: { uri: 's3://scores/store-full/', passthrough: ['id'] },
          batch: { rows: 1_024, chunkRows: 2_048 },
        },
      );
      let done: JobRecord | undefined;
      for (let i = 0; i < 600; i++) {
        done = await store.get(record.id);
        if (done && ['succeeded', 'failed', 'cancelled'].includes(done.status)) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(done?.status, `${JSON.stringify(done?.error)} ${lastRecords(log)}`).toBe('succeeded');
      expect(refused).toHaveLength(1);
      expect(done?.progress).toMatchObject({ chunksDone: done?.progress.chunksTotal, rowsScored: ROWS });
      const manifest = manifestSchema.parse(
        JSON.parse(Buffer.from(await s3.storage.read(done!.output.manifestUri!)).toString('utf8')) as unknown,
      );
      expect(manifest.rowsScored).toBe(ROWS);
      expect(manifest.parts.some((part) => part.index === refused[0])).toBe(true);
    } finally {
      await worker.close();
      await queues.close();
      await scorers.close();
      await readers.close();
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length > 0) await redis.del(...keys);
      redis.disconnect();
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
