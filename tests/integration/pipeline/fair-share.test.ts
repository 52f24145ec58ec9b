import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it, onTestFinished } from 'vitest';
import { submitJob } from '../../../jobs/submit-job.js';
import type { JobRecord } from '../../../schemas/job-record.js';
import type { JobSpecInput } from '../../../schemas/job-spec.js';
import { manifestSchema } from '../../../schemas/manifest.js';
import { makeRedisJobStore } from '../../../services/queue/job-store.js';
import { makeQueues } from '../../../services/queue/queues.js';
import { makeRedis } from '../../../services/queue/redis-connection.js';
import { makeTenantChunkShares } from '../../../services/queue/tenant-chunk-shares.js';
import { makePipelineWorker } from '../../../services/worker/pipeline-worker.js';
import { makeMemoryStorage } from '../../helpers/memory-storage.js';
import { fakeInput, makeFakeReaders } from '../../helpers/memory-ports/fake-readers.js';
import { makeFakeScorer } from '../../helpers/memory-ports/fake-scorer.js';
import { makeRecordingWriters } from '../../helpers/memory-ports/recording-writers.js';
import { makeRecordingLog } from '../../helpers/recording-log.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A slow scored call while set: a chunk (three calls of its 4-row batches) lasts about three of them. */
let slowCallMs = 0;

describe('fair share between tenants (real Redis and BullMQ, fake reader and scorer)', () => {
  const prefix = `{test-${randomUUID().slice(0, 8)}}`;
  const redis = makeRedis('redis://127.0.0.1:6379');
  const store = makeRedisJobStore(redis, prefix);
  const queues = makeQueues(redis, prefix);
  const storage = makeMemoryStorage({
    's3://inputs/a/rows.csv': fakeInput(10_000),
    's3://inputs/b/rows.csv': fakeInput(40),
  });
  const scorers = makeFakeScorer({
    beforeCall: async () => {
      if (slowCallMs > 0) await sleep(slowCallMs);
    },
  });
  const log = makeRecordingLog();
  /** Tenant a may hold two of the worker's four chunks at once (read on every take). */
  const shares: Record<string, number> = { a: 2 };
  const worker = makePipelineWorker({
    connection: redis,
    prefix,
    queues,
    scoreConcurrency: 4,
    deps: {
      store,
      storage,
      readers: makeFakeReaders({ splitRows: 10 }),
      scorers,
      writers: makeRecordingWriters(),
      chunkShares: makeTenantChunkShares({
        redis,
        prefix,
        shareOf: (tenant) => shares[tenant],
        leaseMs: 30_000,
        log,
      }),
      log,
    },
  });

  afterAll(async () => {
    await worker.close();
    await queues.close();
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  async function settled(id: string, timeoutMs: number): Promise<JobRecord> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const record = await store.get(id);
      if (record && ['succeeded', 'failed', 'cancelled'].includes(record.status)) return record;
      if (Date.now() > deadline) throw new Error(`job ${id} still ${record?.status}`);
      await sleep(50);
    }
  }

  const spec = (name: string, priority = 5): JobSpecInput => ({
    name,
    priority,
    input: { uri: `s3://inputs/${name}/`, format: 'csv' },
    model: { uri: 's3://models/m.onnx' },
    output: { uri: `s3://scores/${name}/` },
    batch: { chunkRows: 10 },
  });
  // 10-row chunks, below the API's 1,000: a 1,000-chunk job that scores in seconds.
  const limits = { minChunkRows: 1 };

  // a's backlog alone, two at a time, lasts 500 chunk durations.
  it.each([
    // Chunks of one level interleave by index, and b's go in the two slots a may not use.
    ['at the same priority, within 4 chunk durations', 5, 4],
    // Without the share b would wait for all of a's chunks (a more urgent level always goes first). With it,
    // the free slots first move a's queued chunks aside (each taken once and put back to wait): a few
    // milliseconds a chunk, then b's run.
    ['when a is more urgent, within 40 chunk durations', 1, 40],
  ])(
    "runs tenant b's 4 chunks beside a's 1,000-chunk backlog %s, and a's job exactly once",
    async (_why, priorityA, chunkDurations) => {
      const deps = { store, queue: queues };
      const running = `${prefix}:tenant:a:running-chunks`;
      let mostRunning = 0;
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          mostRunning = Math.max(mostRunning, await redis.zcard(running));
          await sleep(5);
        }
      })();
      onTestFinished(async () => {
        sampling = false;
        await sampler;
      });

      slowCallMs = 100;
      const a = await submitJob(deps, spec('a', priorityA), { tenant: 'a', limits });
      // a's 1,000 chunks are queued and two of them run: the backlog is in place before b comes.
      for (;;) {
        const record = await store.get(a.record.id);
        if (record?.status === 'failed') throw new Error(`a failed: ${JSON.stringify(record.error)}`);
        if (record?.progress.chunksTotal === 1_000 && (await redis.zcard(running)) === 2) break;
        await sleep(10);
      }
      const submittedB = Date.now();
      const b = await submitJob(deps, spec('b'), { tenant: 'b', limits });
      const doneB = await settled(b.record.id, 30_000);
      const bSeconds = (Date.now() - submittedB) / 1000;
      const aMeanwhile = (await store.get(a.record.id))!.progress.chunksDone;
      const bChunkSeconds = log
        .withMessage('chunk committed')
        .filter((r) => r.jobId === b.record.id)
        .map((r) => Number(r.seconds));
      const mostRunningWhileB = mostRunning;

      expect(doneB.status, JSON.stringify(doneB.error)).toBe('succeeded');
      expect(doneB.progress).toMatchObject({ chunksTotal: 4, chunksDone: 4, rowsScored: 40 });
      // b's four chunks ran two at a time beside a's two: a few chunk durations from submission to
      // succeeded (planning and finalize included), not after a's backlog (1,000 chunks, two at a time).
      expect(bChunkSeconds).toHaveLength(4);
      const chunkSeconds = Math.max(...bChunkSeconds);
      expect(chunkSeconds).toBeGreaterThan(0.25);
      expect(bSeconds).toBeLessThan(chunkDurations * chunkSeconds);
      expect(aMeanwhile).toBeLessThan(2 * chunkDurations);
      // a never ran more than its share, and it used all of it.
      expect(mostRunningWhileB).toBe(2);

      // The rest of a's backlog at full speed (still two at a time).
      slowCallMs = 0;
      const doneA = await settled(a.record.id, 60_000);
      sampling = false;
      await sampler;
      expect(doneA.status, JSON.stringify(doneA.error)).toBe('succeeded');
      expect(mostRunning).toBe(2);
      // Every slot was given back: the set is gone.
      expect(await redis.exists(running)).toBe(0);

      // Exactly once: every chunk committed and counted once, every row scored once, no gaps.
      expect(doneA.progress).toMatchObject({ chunksTotal: 1_000, chunksDone: 1_000, rowsScored: 10_000 });
      const manifest = manifestSchema.parse(
        JSON.parse(new TextDecoder().decode(await storage.read(doneA.output.manifestUri!))),
      );
      expect(manifest.parts).toHaveLength(1_000);
      expect(manifest.parts.reduce((n, p) => n + p.rows, 0)).toBe(10_000);
      const scoredA = scorers.scoredRows.splice(0).filter((r) => r.startsWith('s3://inputs/a/'));
      expect(scoredA).toHaveLength(10_000);
      expect(new Set(scoredA).size).toBe(10_000);
      // Waiting for the share is not an attempt: no chunk of a was retried, and none failed.
      expect(doneA.usage?.retries ?? 0).toBe(0);
      expect(log.withMessage('chunk committed').filter((r) => r.jobId === a.record.id)).toHaveLength(1_000);
    },
    120_000,
  );
});
