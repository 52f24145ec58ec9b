import { DelayedError, type Job } from 'bullmq';
import { ChunkDeferred } from '../../jobs/score/errors/chunk-deferred.js';

type Processor<T> = (job: Job<T>, token?: string, signal?: AbortSignal) => Promise<void>;

/** First wait of a chunk over its tenant's share, doubled on each wait after it. */
const FIRST_WAIT_MS = 200;
/**
 * Longest wait: bounds how late a tenant's freed slot is filled by its own waiting chunks, and how often a
 * waiting chunk is taken again only to wait more (a tenant at its share with N chunks queued costs about
 * N / 5 s such takes per second).
 */
const LONGEST_WAIT_MS = 5_000;

/**
 * How long a chunk waits this time: doubling with every wait it already had (BullMQ counts each take in
 * `attemptsStarted`, and a wait leaves `attemptsMade` alone), jittered so waiting chunks spread out.
 */
export function deferralMs(job: Pick<Job, 'attemptsStarted' | 'attemptsMade'>, random = Math.random): number {
  const waits = Math.max(0, job.attemptsStarted - job.attemptsMade - 1);
  const ms = Math.min(LONGEST_WAIT_MS, FIRST_WAIT_MS * 2 ** Math.min(waits, 16));
  return Math.round(ms * (0.5 + random() / 2));
}

/**
 * The score processor, with chunks over their tenant's share (`ChunkDeferred`) moved back to BullMQ's
 * delayed set instead of holding the worker: no attempt is used and nothing counts as failed, and the
 * worker takes the next chunk (another tenant's) at once. The chunk keeps its priority.
 */
export function deferOverShare<T>(process: Processor<T>): Processor<T> {
  return async (job, token, signal) => {
    try {
      await process(job, token, signal);
    } catch (error) {
      if (!(error instanceof ChunkDeferred)) throw error;
      await job.moveToDelayed(Date.now() + deferralMs(job), token);
      throw new DelayedError();
    }
  };
}
