import type { ChunkDescriptor } from '../../schemas/chunk-descriptor.js';
import type { DeviceClass } from '../../schemas/device-class.js';
import type { PipelineQueue } from '../../jobs/ports/pipeline-queue.js';

/** A PipelineQueue that only records what processors hand on: for tests that drive one processor. */
export interface RecordingQueue extends PipelineQueue {
  plans: Array<{ jobId: string; priority: number }>;
  chunks: Array<{ jobId: string; chunk: ChunkDescriptor; priority: number; device: DeviceClass }>;
  finalized: string[];
  removed: string[];
}

export function recordingQueue(): RecordingQueue {
  const queue: RecordingQueue = {
    plans: [],
    chunks: [],
    finalized: [],
    removed: [],
    enqueuePlan(jobId, priority) {
      queue.plans.push({ jobId, priority });
      return Promise.resolve();
    },
    enqueueChunks(jobId, chunks, priority, device) {
      for (const chunk of chunks) queue.chunks.push({ jobId, chunk, priority, device });
      return Promise.resolve();
    },
    enqueueFinalize(jobId) {
      queue.finalized.push(jobId);
      return Promise.resolve();
    },
    removeQueuedChunks(jobId) {
      queue.removed.push(jobId);
      const before = queue.chunks.length;
      queue.chunks = queue.chunks.filter((c) => c.jobId !== jobId);
      return Promise.resolve(before - queue.chunks.length);
    },
  };
  return queue;
}
