import { randomUUID } from 'node:crypto';
import { Worker } from 'bullmq';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ChunkDescriptor } from '../../../schemas/chunk-descriptor.js';
import { deviceClasses } from '../../../schemas/device-class.js';
import {
  type PipelineQueues,
  chunkJobId,
  makeQueues,
  scoreQueueNames,
} from '../../../services/queue/queues.js';
import { makeRedis } from '../../../services/queue/redis-connection.js';
import type { Redis } from 'ioredis';

/** Chunk descriptors are only routed and counted here, never scored. */
const chunks = (n: number) => Array.from({ length: n }, (_, index) => ({ index }) as ChunkDescriptor);

describe('score queues per device class (real Redis, real BullMQ queues)', () => {
  let redis: Redis;
  let prefix: string;
  let queues: PipelineQueues;

  beforeEach(() => {
    redis = makeRedis('redis://127.0.0.1:6379');
    prefix = `{test-${randomUUID().slice(0, 8)}}`;
    queues = makeQueues(redis, prefix);
  });
  afterEach(async () => {
    await queues.close();
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  it("queues each job's chunks on its class's queue only, `any` on the queue every chunk had before", async () => {
    expect(scoreQueueNames).toEqual({ cpu: 'score-cpu', gpu: 'score-gpu', any: 'score' });
    expect(queues.scoreByClass.any).toBe(queues.score);
    await queues.enqueueChunks('c', chunks(1), 5, 'cpu');
    await queues.enqueueChunks('g', chunks(2), 5, 'gpu');
    await queues.enqueueChunks('a', chunks(3), 5, 'any');
    for (const [device, jobId, count] of [
      ['cpu', 'c', 1],
      ['gpu', 'g', 2],
      ['any', 'a', 3],
    ] as const) {
      const queued = await queues.scoreByClass[device].getJobs(['prioritized', 'waiting']);
      expect(queued.map((j) => j.id).sort(), device).toEqual(
        Array.from({ length: count }, (_, i) => chunkJobId(jobId, i)).sort(),
      );
    }
    const depths = await queues.depths();
    expect(depths['score-cpu']).toMatchObject({ waiting: 1, prioritized: 1, backlog: 1 });
    expect(depths['score-gpu']).toMatchObject({ waiting: 2, prioritized: 2, backlog: 2 });
    expect(depths['score-any']).toMatchObject({ waiting: 3, prioritized: 3, backlog: 3 });
    expect(depths.score).toEqual({
      waiting: 6,
      prioritized: 6,
      active: 0,
      delayed: 0,
      failed: 0,
      backlog: 6,
    });
  });

  it("removes a job's queued chunks whatever its class, and leaves a running one to finish", async () => {
    for (const device of deviceClasses) await queues.enqueueChunks(`job-${device}`, chunks(3), 5, device);
    // A worker of the gpu class holds one chunk: a lock that Queue.remove respects.
    const worker = new Worker(scoreQueueNames.gpu, null, { connection: redis, prefix });
    try {
      const running = await worker.getNextJob('token');
      expect(running?.id).toBe(chunkJobId('job-gpu', 0));
      expect(await queues.removeQueuedChunks('job-gpu', 3)).toBe(2);
      expect(await queues.removeQueuedChunks('job-cpu', 3)).toBe(3);
      const depths = await queues.depths();
      expect(depths['score-gpu']).toMatchObject({ waiting: 0, active: 1 });
      expect(depths['score-cpu'].backlog).toBe(0);
      expect(depths['score-any'].backlog).toBe(3);
      expect(depths.score.backlog).toBe(4);
    } finally {
      await worker.close(true);
    }
  });
});
