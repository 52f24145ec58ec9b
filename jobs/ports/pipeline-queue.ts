import type { ChunkDescriptor } from '../../schemas/chunk-descriptor.js';
import type { DeviceClass } from '../../schemas/device-class.js';

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
/** One attempt (1-based) of one webhook delivery. */
export interface DeliverPayload {
  jobId: string;
  deliveryId: string;
  attempt: number;
}

/**
 * How processors hand work to the next stage (on BullMQ: services/queue/queues.ts). Every enqueue is
 * idempotent per job (and chunk): queuing the same work twice leaves one queued job.
 */
export interface PipelineQueue {
  /**
   * Queues the job's planning at the spec's priority (1 = most urgent); `attempt` (default 1) is the job's
   * attempt, so a retry's planning is queued afresh.
   */
  enqueuePlan(jobId: string, priority: number, attempt?: number): Promise<void>;
  /**
   * Queues one score job per chunk on the queue of the job's device class (only workers that take that
   * class score them); a job's chunks interleave with other jobs' of the class at the same priority.
   */
  enqueueChunks(
    jobId: string,
    chunks: readonly ChunkDescriptor[],
    priority: number,
    device: DeviceClass,
  ): Promise<void>;
  enqueueFinalize(jobId: string): Promise<void>;
  /** Removes the job's queued (not running) chunks, in whichever class queue, e.g. once it failed; returns how many. */
  removeQueuedChunks(jobId: string, chunksTotal: number): Promise<number>;
}
