import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { processPlan } from '../../../jobs/plan/process-plan.js';
import { chunkJobId, makeQueues } from '../../../services/queue/queues.js';
import { makeRedis } from '../../../services/queue/redis-connection.js';
import { makePipelineWorker } from '../../../services/worker/pipeline-worker.js';
import { fakeInput } from '../../helpers/memory-ports/fake-readers.js';
import { FAKE_INPUT_URI, fakeJobSpec } from '../../helpers/memory-ports/fake-job-spec.js';
import { makeFakeScorer } from '../../helpers/memory-ports/fake-scorer.js';
import { memoryPipelineDeps } from '../../helpers/memory-ports/memory-pipeline-deps.js';

/** Polls `check` every 50 ms until it holds, for at most 10 s. */
async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("a worker's score slots, shared by its class queues (real Redis and BullMQ, in-memory ports)", () => {
  let redis: Redis | undefined;
  let prefix = '';
  afterEach(async () => {
    if (!redis) return;
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  it('scores one chunk at a time over two classes, and on a drain puts the waiting one back unspent', async () => {
    redis = makeRedis('redis://127.0.0.1:6379');
    prefix = `{test-${randomUUID().slice(0, 8)}}`;
    const queues = makeQueues(redis, prefix);
    let unblock = () => {};
    const blocked = new Promise<void>((resolve) => (unblock = resolve));
    let calls = 0;
    const deps = memoryPipelineDeps({
      scorers: makeFakeScorer({
        beforeCall: async () => {
          calls++;
          await blocked;
        },
      }),
    });
    await deps.storage.write(`${FAKE_INPUT_URI}a.csv`, new TextEncoder().encode(fakeInput(25)));
    const { record } = await deps.store.create(fakeJobSpec());
    await processPlan(deps, record.id);
    const [first, second] = deps.queue.chunks.map((c) => c.chunk);
    // One chunk on each class queue the worker takes.
    await queues.enqueueChunks(record.id, [first!], 5, 'cpu');
    await queues.enqueueChunks(record.id, [second!], 5, 'any');

    const worker = makePipelineWorker({
      connection: redis,
      prefix,
      queues,
      deps,
      scoreConcurrency: 1,
      scoreClasses: ['cpu', 'any'],
    });
    try {
      // Both chunks taken (each class worker holds one), but only one is scoring: one slot.
      await until('both chunks taken', async () => (await queues.depths()).score.active === 2);
      await new Promise((r) => setTimeout(r, 300));
      expect(calls).toBe(1);

      const closing = worker.close();
      // The chunk waiting for the slot goes back to its queue at once, its attempt not spent.
      const jobs = await Promise.all([
        queues.scoreByClass.cpu.getJob(chunkJobId(record.id, first!.index)),
        queues.scoreByClass.any.getJob(chunkJobId(record.id, second!.index)),
      ]);
      await until('the waiting chunk is back', async () => {
        const states = await Promise.all(jobs.map((job) => job!.getState()));
        return states.filter((s) => s !== 'active').length === 1;
      });
      unblock();
      await closing;
      const states = await Promise.all(jobs.map((job) => job!.getState()));
      expect(states.sort()).toEqual(['completed', 'delayed']);
      const waited = jobs[states.indexOf('delayed')]!;
      const reread = await (waited.queueName === 'score' ? queues.score : queues.scoreByClass.cpu).getJob(
        waited.id!,
      );
      expect(reread?.attemptsMade).toBe(0);
    } finally {
      unblock();
      await worker.close();
      await queues.close();
    }
  });
});
