import { Queue, type ConnectionOptions } from 'bullmq';
import type {
  DeliverPayload,
  FinalizePayload,
  PipelineQueue,
  PlanPayload,
  ScorePayload,
} from '../../jobs/ports/pipeline-queue.js';
import type { QueueDepth, QueueDepths } from '../../schemas/api.js';

/** Queue names; BullMQ keys live under the deployment's hash-tagged prefix (one Redis Cluster slot). */
export const queueNames = { plan: 'plan', score: 'score', finalize: 'finalize', deliver: 'deliver' } as const;

/** BullMQ job ids may not contain ':'; these are deterministic so a re-enqueue of the same work is a no-op. */
export const planJobId = (jobId: string): string => `${jobId}-plan`;
export const chunkJobId = (jobId: string, index: number): string => `${jobId}-chunk-${index}`;
export const finalizeJobId = (jobId: string): string => `${jobId}-finalize`;
export const deliverJobId = (deliveryId: string, attempt: number): string =>
  `${deliveryId}-attempt-${attempt}`;

/** Chunk positions within one priority level; BullMQ priorities go up to 2^21 - 1. */
const CHUNKS_PER_LEVEL = 200_000;

/**
 * BullMQ priority of chunk `index` of a job of spec priority `priority` (1 = most urgent). Within a level,
 * the k-th chunks of every job come before their (k+1)-th: jobs' chunks interleave instead of a big job
 * holding the workers until its last chunk. A more urgent level always goes first.
 */
export function chunkPriority(priority: number, index: number): number {
  return (priority - 1) * CHUNKS_PER_LEVEL + Math.min(index, CHUNKS_PER_LEVEL - 1) + 1;
}

export interface PipelineQueues extends PipelineQueue {
  plan: Queue<PlanPayload>;
  score: Queue<ScorePayload>;
  finalize: Queue<FinalizePayload>;
  /** Webhook attempts; a scheduled retry is a delayed job. */
  deliver: Queue<DeliverPayload>;
  /**
   * Queues attempt `payload.attempt` of a delivery to run after `delayMs` (0: now). Idempotent per attempt:
   * the same attempt queued again stays one job, except that `delayMs` 0 brings a scheduled one forward
   * and a finished one is queued afresh (the processor ignores attempts already made).
   */
  enqueueDelivery(payload: DeliverPayload, delayMs: number): Promise<void>;
  /** How many jobs each queue holds, by state (what autoscaling follows). */
  depths(): Promise<QueueDepths>;
  close(): Promise<void>;
}

/**
 * The pipeline's queues. Chunks retry transient failures with exponential backoff; permanent failures
 * (bad data, bad mapping) are thrown as BullMQ `UnrecoverableError`s by the processors and fail at once.
 */
export function makeQueues(
  connection: ConnectionOptions,
  prefix: string,
  /** Connection errors (Redis restarting, unreachable); BullMQ reconnects by itself. Default: stderr. */
  onError: (error: Error) => void = (error) => console.error(`queue: ${error.message}`),
): PipelineQueues {
  const common = {
    connection,
    prefix,
    defaultJobOptions: {
      attempts: 5,
      backoff: { type: 'exponential', delay: 1_000 },
      removeOnComplete: { age: 24 * 3600, count: 10_000 },
      removeOnFail: { age: 7 * 24 * 3600 },
    },
  };
  const plan = new Queue<PlanPayload>(queueNames.plan, common);
  const score = new Queue<ScorePayload>(queueNames.score, common);
  const finalize = new Queue<FinalizePayload>(queueNames.finalize, common);
  // BullMQ retries only cover the processor failing (Redis unreachable); a receiver's failures are
  // retried on the delivery's own schedule, each attempt a new job.
  const deliver = new Queue<DeliverPayload>(queueNames.deliver, common);
  for (const queue of [plan, score, finalize, deliver]) queue.on('error', onError);
  let closing: Promise<void> | undefined;
  return {
    plan,
    score,
    finalize,
    deliver,
    async enqueuePlan(jobId, priority) {
      await plan.add('plan', { jobId }, { jobId: planJobId(jobId), priority });
    },
    async enqueueChunks(jobId, chunks, priority) {
      // addBulk in slices: one MULTI per slice keeps Redis responsive for 100,000-chunk jobs.
      for (let i = 0; i < chunks.length; i += 1_000) {
        await score.addBulk(
          chunks.slice(i, i + 1_000).map((chunk) => ({
            name: 'score',
            data: { jobId, chunk },
            opts: { jobId: chunkJobId(jobId, chunk.index), priority: chunkPriority(priority, chunk.index) },
          })),
        );
      }
    },
    async enqueueFinalize(jobId) {
      await finalize.add('finalize', { jobId }, { jobId: finalizeJobId(jobId) });
    },
    async enqueueDelivery(payload, delayMs) {
      const id = deliverJobId(payload.deliveryId, payload.attempt);
      const delay = Math.max(0, Math.round(delayMs));
      const existing = await deliver.getJob(id);
      if (existing) {
        const state = await existing.getState();
        if (state === 'delayed' && delay === 0) await existing.promote().catch(() => undefined);
        // Waiting, active or scheduled: that job is this attempt. Finished (or gone meanwhile): queue it again.
        if (state !== 'completed' && state !== 'failed' && state !== 'unknown') return;
        await existing.remove().catch(() => undefined);
      }
      await deliver.add('deliver', payload, { jobId: id, delay });
    },
    async depths() {
      const entries = await Promise.all(
        (Object.keys(queueNames) as Array<keyof typeof queueNames>).map(async (name) => {
          const queue = { plan, score, finalize, deliver }[name];
          const c = await queue.getJobCounts('waiting', 'prioritized', 'active', 'delayed', 'failed');
          const waiting = (c.waiting ?? 0) + (c.prioritized ?? 0);
          const depth: QueueDepth = {
            waiting,
            prioritized: c.prioritized ?? 0,
            active: c.active ?? 0,
            delayed: c.delayed ?? 0,
            failed: c.failed ?? 0,
            backlog: waiting + (c.delayed ?? 0) + (c.active ?? 0),
          };
          return [name, depth] as const;
        }),
      );
      return Object.fromEntries(entries) as QueueDepths;
    },
    async removeQueuedChunks(jobId, chunksTotal) {
      let removed = 0;
      // Queue.remove skips locked (running) jobs: those finish their own part.
      for (let i = 0; i < chunksTotal; i += 500) {
        const batch = Array.from({ length: Math.min(500, chunksTotal - i) }, (_, k) =>
          score.remove(chunkJobId(jobId, i + k)),
        );
        removed += (await Promise.all(batch)).reduce((n: number, r) => n + r, 0);
      }
      return removed;
    },
    close() {
      closing ??= Promise.allSettled([plan.close(), score.close(), finalize.close(), deliver.close()]).then(
        () => undefined,
      );
      return closing;
    },
  };
}
