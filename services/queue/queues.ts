import { Queue, type ConnectionOptions } from 'bullmq';
import type {
  DeliverPayload,
  FinalizePayload,
  PipelineQueue,
  PlanPayload,
  ScorePayload,
} from '../../jobs/ports/pipeline-queue.js';
import type { QueueDepth, QueueDepths } from '../../schemas/api.js';
import { type DeviceClass, deviceClasses } from '../../schemas/device-class.js';

/**
 * Queue names; BullMQ keys live under the deployment's hash-tagged prefix (one Redis Cluster slot). `score`
 * holds the chunks of device class `any`; the other classes have their own queues ({@link scoreQueueNames}).
 */
export const queueNames = { plan: 'plan', score: 'score', finalize: 'finalize', deliver: 'deliver' } as const;

/**
 * The BullMQ score queue of each device class. `any` keeps the name every chunk was queued under before
 * classes existed, so chunks queued before an upgrade are still taken.
 */
export const scoreQueueNames = {
  cpu: 'score-cpu',
  gpu: 'score-gpu',
  any: queueNames.score,
} as const satisfies Record<DeviceClass, string>;

/** Every BullMQ queue of the pipeline, each once (the board lists them). */
export const bullQueueNames: readonly string[] = [
  ...new Set<string>([...Object.values(queueNames), ...Object.values(scoreQueueNames)]),
];

/** BullMQ job ids may not contain ':'; these are deterministic so a re-enqueue of the same work is a no-op. */
export const planJobId = (jobId: string, attempt = 1): string =>
  attempt === 1 ? `${jobId}-plan` : `${jobId}-plan-${attempt}`;
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
  /** The `any` class's chunks (the same queue as `scoreByClass.any`). */
  score: Queue<ScorePayload>;
  /** Each device class's chunks. */
  scoreByClass: Readonly<Record<DeviceClass, Queue<ScorePayload>>>;
  finalize: Queue<FinalizePayload>;
  /** Webhook attempts; a scheduled retry is a delayed job. */
  deliver: Queue<DeliverPayload>;
  /**
   * Queues attempt `payload.attempt` of a delivery to run after `delayMs` (0: now). Idempotent per attempt:
   * the same attempt queued again stays one job, except that `delayMs` 0 brings a scheduled one forward
   * and a finished one is queued afresh (the processor ignores attempts already made).
   */
  enqueueDelivery(payload: DeliverPayload, delayMs: number): Promise<void>;
  /**
   * How many jobs each queue holds, by state (what autoscaling follows): `score-<class>` per device class,
   * `score` their total.
   */
  depths(): Promise<QueueDepths>;
  /**
   * Before a retry queues the job again: removes what its earlier attempts left under the deterministic
   * ids the new attempt reuses — chunk and finalize jobs in any state, so that re-adding them is not a
   * no-op. A job still locked by a processor (an attempt stopping as its job left `running`) is waited for
   * up to `waitMs` (default 10 s) and then left, with its id returned.
   */
  clearForRetry(jobId: string, chunksTotal: number, waitMs?: number): Promise<string[]>;
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
  const scoreByClass = Object.fromEntries(
    deviceClasses.map((c) => [c, new Queue<ScorePayload>(scoreQueueNames[c], common)]),
  ) as Record<DeviceClass, Queue<ScorePayload>>;
  const score = scoreByClass.any;
  const finalize = new Queue<FinalizePayload>(queueNames.finalize, common);
  // BullMQ retries only cover the processor failing (Redis unreachable); a receiver's failures are
  // retried on the delivery's own schedule, each attempt a new job.
  const deliver = new Queue<DeliverPayload>(queueNames.deliver, common);
  const all = [plan, ...Object.values(scoreByClass), finalize, deliver];
  for (const queue of all) queue.on('error', onError);
  let closing: Promise<void> | undefined;
  return {
    plan,
    score,
    scoreByClass,
    finalize,
    deliver,
    async enqueuePlan(jobId, priority, attempt) {
      // A retry's plan has an id of its own: the first attempt's may still be kept as completed.
      await plan.add('plan', { jobId }, { jobId: planJobId(jobId, attempt), priority });
    },
    async enqueueChunks(jobId, chunks, priority, device) {
      const queue = scoreByClass[device];
      // addBulk in slices: one MULTI per slice keeps Redis responsive for 100,000-chunk jobs.
      for (let i = 0; i < chunks.length; i += 1_000) {
        await queue.addBulk(
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
      const [planDepth, finalizeDepth, deliverDepth, cpu, gpu, any] = await Promise.all(
        [plan, finalize, deliver, scoreByClass.cpu, scoreByClass.gpu, scoreByClass.any].map(depthOf),
      );
      const classes = { 'score-cpu': cpu!, 'score-gpu': gpu!, 'score-any': any! };
      return {
        plan: planDepth!,
        score: sumDepths(Object.values(classes)),
        ...classes,
        finalize: finalizeDepth!,
        deliver: deliverDepth!,
      };
    },
    async removeQueuedChunks(jobId, chunksTotal) {
      let removed = 0;
      const queues = Object.values(scoreByClass);
      // Queue.remove skips locked (running) jobs, answering 0: those finish their own part. It answers 1
      // for an id it does not hold, so a chunk is counted gone when every class queue answers 1 (the
      // job's class is not needed: a chunk id is in at most one of them).
      for (let i = 0; i < chunksTotal; i += 500) {
        const batch = Array.from({ length: Math.min(500, chunksTotal - i) }, async (_, k) => {
          const answers = await Promise.all(queues.map((queue) => queue.remove(chunkJobId(jobId, i + k))));
          return answers.every((answer) => answer === 1) ? 1 : 0;
        });
        removed += (await Promise.all(batch)).reduce((n: number, r) => n + r, 0);
      }
      return removed;
    },
    async clearForRetry(jobId, chunksTotal, waitMs = 10_000) {
      const ids = [
        ...Array.from({ length: chunksTotal }, (_, i) =>
          Object.values(scoreByClass).map((queue) => ({ queue, id: chunkJobId(jobId, i) })),
        ).flat(),
        { queue: finalize, id: finalizeJobId(jobId) },
      ];
      const deadline = Date.now() + waitMs;
      let left: typeof ids = ids;
      for (;;) {
        const kept: typeof ids = [];
        for (let i = 0; i < left.length; i += 500) {
          const batch = left.slice(i, i + 500);
          // `remove` answers 0 only for a locked job (one a processor holds); 1 also for an id not held.
          const answers = await Promise.all(batch.map(({ queue, id }) => (queue as Queue).remove(id)));
          kept.push(...batch.filter((_, k) => answers[k] === 0));
        }
        left = kept;
        if (left.length === 0 || Date.now() >= deadline) return left.map(({ id }) => id);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    },
    close() {
      closing ??= Promise.allSettled(all.map((queue) => queue.close())).then(() => undefined);
      return closing;
    },
  };
}

/** One queue's depth by state; `waiting` counts prioritized jobs too, `backlog` what autoscaling follows. */
async function depthOf(queue: Queue): Promise<QueueDepth> {
  const c = await queue.getJobCounts('waiting', 'prioritized', 'active', 'delayed', 'failed');
  const waiting = (c.waiting ?? 0) + (c.prioritized ?? 0);
  return {
    waiting,
    prioritized: c.prioritized ?? 0,
    active: c.active ?? 0,
    delayed: c.delayed ?? 0,
    failed: c.failed ?? 0,
    backlog: waiting + (c.delayed ?? 0) + (c.active ?? 0),
  };
}

/** State by state, the sum of `depths`. */
function sumDepths(depths: readonly QueueDepth[]): QueueDepth {
  const total: QueueDepth = { waiting: 0, prioritized: 0, active: 0, delayed: 0, failed: 0, backlog: 0 };
  for (const depth of depths)
    for (const state of Object.keys(total) as Array<keyof QueueDepth>) total[state] += depth[state];
  return total;
}
