import { Queue, type ConnectionOptions } from 'bullmq';
import type { ChunkDescriptor } from '../../schemas/chunk-descriptor.js';

/** Queue names; BullMQ keys live under the deployment's hash-tagged prefix (one Redis Cluster slot). */
export const queueNames = { plan: 'plan', score: 'score', finalize: 'finalize' } as const;

/** Payloads are descriptors only, never data (DESIGN invariant 1). */
export interface PlanPayload {
  jobId: string;
}
export interface ScorePayload {
  jobId: string;
  chunk: ChunkDescriptor;
}
export interface FinalizePayload {
  jobId: string;
}

export interface PipelineQueues {
  plan: Queue<PlanPayload>;
  score: Queue<ScorePayload>;
  finalize: Queue<FinalizePayload>;
  close(): Promise<void>;
}

/**
 * The pipeline's queues. Chunks retry transient failures with exponential backoff; permanent failures
 * (bad data, bad mapping) are thrown as BullMQ `UnrecoverableError`s by the processors and fail at once.
 */
export function makeQueues(connection: ConnectionOptions, prefix: string): PipelineQueues {
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
  let closing: Promise<void> | undefined;
  return {
    plan,
    score,
    finalize,
    close() {
      closing ??= Promise.allSettled([plan.close(), score.close(), finalize.close()]).then(() => undefined);
      return closing;
    },
  };
}
