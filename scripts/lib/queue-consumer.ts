/**
 * One simulated worker process for bench:queue and its test: the real queues, job store and commit
 * protocol (segment and commit markers in local files, Redis' acceptance), with a no-op scorer, fake
 * readers (one row per input byte) and a writer that writes a few bytes per part. Started by
 * `queue-harness.ts` with its settings in the environment; prints `{"ready":true}` once its workers listen,
 * and on SIGTERM closes, then prints how many rows its scorer scored and exits.
 *   QUEUE_REDIS_URL, QUEUE_PREFIX, QUEUE_CONCURRENCY
 */
import { makeRedisJobStore } from '../../services/queue/job-store.js';
import { makeQueues } from '../../services/queue/queues.js';
import { makeRedis } from '../../services/queue/redis-connection.js';
import { makeLog } from '../../services/process/log.js';
import { makeFileStorage } from '../../services/storage/file-storage.js';
import { makePipelineWorker } from '../../services/worker/pipeline-worker.js';
import { makeFakeReaders } from '../../tests/helpers/memory-ports/fake-readers.js';
import { makeFakeScorer } from '../../tests/helpers/memory-ports/fake-scorer.js';
import { makeRecordingWriters } from '../../tests/helpers/memory-ports/recording-writers.js';

const env = (name: string): string => {
  const value = process.env[name];
  if (value === undefined) throw new Error(`${name} is not set`);
  return value;
};

const prefix = env('QUEUE_PREFIX');
const redis = makeRedis(env('QUEUE_REDIS_URL'));
const queues = makeQueues(redis, prefix);
const scorers = makeFakeScorer();
const worker = makePipelineWorker({
  connection: redis,
  prefix,
  queues,
  scoreConcurrency: Number(env('QUEUE_CONCURRENCY')),
  deps: {
    store: makeRedisJobStore(redis, prefix),
    storage: makeFileStorage(),
    // One row per split, read in one batch: a chunk is one row, so the queue's own cost is all there is.
    readers: makeFakeReaders({ splitRows: 1, batchRows: 1_000_000 }),
    writers: makeRecordingWriters(),
    scorers,
    // Never checkpoint mid-chunk: one segment per chunk, as a short chunk commits.
    checkpointMs: 3_600_000,
    log: makeLog({ level: 'warn', format: 'json' }),
  },
});

process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
process.once('SIGTERM', () => {
  void (async () => {
    await worker.close();
    await queues.close();
    await redis.quit();
    process.stdout.write(`${JSON.stringify({ scoredRows: scorers.scoredRows.length })}\n`);
  })();
});
