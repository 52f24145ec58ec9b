import { describe, expect, it } from 'vitest';
import { processPlan } from '../../../jobs/plan/process-plan.js';
import { processScore } from '../../../jobs/score/process-score.js';
import { fakeInput } from '../../helpers/memory-ports/fake-readers.js';
import { FAKE_INPUT_URI, fakeJobSpec } from '../../helpers/memory-ports/fake-job-spec.js';
import { memoryPipelineDeps } from '../../helpers/memory-ports/memory-pipeline-deps.js';
import type { JobSpecInput } from '../../../schemas/job-spec.js';

/** Deps with fake input objects of the given rows under the input prefix, and one queued job over them. */
async function plannedJob(objects: Record<string, number>, spec: Partial<JobSpecInput> = {}) {
  const deps = memoryPipelineDeps();
  for (const [name, rows] of Object.entries(objects))
    await deps.storage.write(`${FAKE_INPUT_URI}${name}`, new TextEncoder().encode(fakeInput(rows)));
  const { record } = await deps.store.create(fakeJobSpec(spec));
  return { deps, jobId: record.id };
}

describe('processPlan', () => {
  it('enqueues one chunk per planned split and records the plan facts', async () => {
    const { deps, jobId } = await plannedJob({ 'a.csv': 25, 'b.csv': 10 });
    await processPlan(deps, jobId);

    const chunks = deps.queue.chunks.map((c) => c.chunk);
    expect(chunks.map((c) => [c.index, c.parts[0]!.uri, c.rows])).toEqual([
      [0, `${FAKE_INPUT_URI}a.csv`, 10],
      [1, `${FAKE_INPUT_URI}a.csv`, 10],
      [2, `${FAKE_INPUT_URI}a.csv`, 5],
      [3, `${FAKE_INPUT_URI}b.csv`, 10],
    ]);
    expect(chunks[1]!.parts[0]!.range).toEqual({ kind: 'bytes', start: 10, end: 20, rowOffset: 10 });
    expect(deps.queue.chunks.every((c) => c.jobId === jobId && c.priority === 5)).toBe(true);
    const record = await deps.store.get(jobId);
    expect(record?.status).toBe('running');
    expect(record?.startedAt).toBeDefined();
    expect(record?.progress).toMatchObject({ chunksTotal: 4, chunksDone: 0, rowsTotal: 35 });
    expect(deps.queue.finalized).toEqual([]);
  });

  it('resolves the model digest once and records it; a re-run keeps the recorded one', async () => {
    const { deps, jobId } = await plannedJob({ 'a.csv': 5 });
    deps.scorers.options.digestOf = () => 'a'.repeat(64);
    await processPlan(deps, jobId);
    expect((await deps.store.get(jobId))?.modelSha256).toBe('a'.repeat(64));
    expect(deps.log.withMessage('planned')[0]).toMatchObject({ jobId, modelSha256: 'a'.repeat(64) });

    // The model URI now serves other bytes; chunks may already be scoring with the recorded ones.
    deps.scorers.options.digestOf = () => 'b'.repeat(64);
    await processPlan(deps, jobId);
    expect(deps.scorers.calls.filter((c) => c.method === 'resolve')).toHaveLength(1);
    expect((await deps.store.get(jobId))?.modelSha256).toBe('a'.repeat(64));
  });

  it('a pinned model is recorded as pinned', async () => {
    const pin = 'c'.repeat(64);
    const { deps, jobId } = await plannedJob(
      { 'a.csv': 5 },
      { model: { uri: 'file:///m.onnx', sha256: pin } },
    );
    await processPlan(deps, jobId);
    expect((await deps.store.get(jobId))?.modelSha256).toBe(pin);
  });

  it('an input prefix with no objects of the format fails with INPUT_EMPTY', async () => {
    const { deps, jobId } = await plannedJob({ 'notes.txt.bak': 5, '_side/c.csv': 3 });
    await expect(processPlan(deps, jobId)).rejects.toMatchObject({ code: 'INPUT_EMPTY' });
    expect(deps.queue.chunks).toEqual([]);
  });

  it('more chunks than maxChunksPerJob fails the job with TOO_MANY_CHUNKS and unqueues its chunks', async () => {
    const { deps, jobId } = await plannedJob({ 'a.csv': 31 });
    deps.maxChunksPerJob = 3;
    await expect(processPlan(deps, jobId)).rejects.toMatchObject({ code: 'TOO_MANY_CHUNKS' });
    // Streaming queued the first chunk before the scan passed the limit; it went with the job.
    expect(deps.queue.chunks).toEqual([]);
    expect(deps.queue.removed).toEqual([jobId]);
    expect(await deps.store.get(jobId)).toMatchObject({
      status: 'failed',
      error: { code: 'TOO_MANY_CHUNKS' },
    });
  });

  it('streams: chunks score while planning goes on, and only the complete plan finalizes, once', async () => {
    const { deps, jobId } = await plannedJob({ 'a.csv': 25, 'b.csv': 10 });
    const seen: Array<{ status: string | undefined; chunksDone: number; chunksTotal: number }> = [];
    const enqueue = deps.queue.enqueueChunks.bind(deps.queue);
    // Every chunk is scored the moment it is queued: all of them finish before planning ends.
    deps.queue.enqueueChunks = async (id, chunks, ...rest) => {
      await enqueue(id, chunks, ...rest);
      for (const chunk of chunks) {
        await processScore(deps, id, chunk);
        const record = await deps.store.get(id);
        seen.push({ status: record?.status, ...record!.progress });
      }
    };
    await processPlan(deps, jobId);

    expect(seen.map((s) => s.status)).toEqual(['running', 'running', 'running', 'running']);
    expect(seen.every((s) => s.chunksDone < s.chunksTotal)).toBe(true);
    expect(seen[0]).toMatchObject({ chunksDone: 1, chunksTotal: 2 });
    expect(deps.queue.finalized).toEqual([jobId]);
    expect(await deps.store.get(jobId)).toMatchObject({
      status: 'finalizing',
      progress: { chunksTotal: 4, chunksDone: 4, rowsScored: 35, rowsTotal: 35 },
    });
  });

  it('a re-run of planning queues the same chunks less the committed ones, and keeps the total', async () => {
    const { deps, jobId } = await plannedJob({ 'a.csv': 25, 'b.csv': 10 });
    await processPlan(deps, jobId);
    const first = deps.queue.chunks.map((c) => c.chunk);
    await processScore(deps, jobId, first[0]!);
    await processScore(deps, jobId, first[2]!);

    deps.queue.chunks = [];
    await processPlan(deps, jobId);
    expect(deps.queue.chunks.map((c) => c.chunk)).toEqual([first[1], first[3]]);
    expect((await deps.store.get(jobId))?.progress).toMatchObject({ chunksTotal: 4, chunksDone: 2 });
    expect(deps.queue.finalized).toEqual([]);
    for (const { chunk } of deps.queue.chunks) await processScore(deps, jobId, chunk);
    expect(deps.queue.finalized).toEqual([jobId]);

    // Planning again once every chunk is done queues nothing new and finishes nothing twice.
    deps.queue.chunks = [];
    await processPlan(deps, jobId);
    expect(deps.queue.chunks).toEqual([]);
    expect((await deps.store.get(jobId))?.status).toBe('finalizing');
  });

  it('after the store lost the job, a resubmission adopts the chunks committed in storage', async () => {
    const { deps, jobId } = await plannedJob({ 'a.csv': 20 });
    await processPlan(deps, jobId);
    await processScore(deps, jobId, deps.queue.chunks[0]!.chunk);

    // Redis lost everything; the same idempotency key addresses the same id and output folder.
    const lost = memoryPipelineDeps({ storage: deps.storage });
    const { record } = await lost.store.create(fakeJobSpec(), { id: jobId });
    await processPlan(lost, record.id);
    expect(lost.queue.chunks.map((c) => c.chunk.index)).toEqual([1]);
    expect((await lost.store.get(jobId))?.progress).toMatchObject({ chunksDone: 1, rowsScored: 10 });
    expect(await lost.store.committedChunks(jobId)).toEqual([0]);
  });

  it('a cancelled or finished job is left alone', async () => {
    const { deps, jobId } = await plannedJob({ 'a.csv': 5 });
    await deps.store.transition(jobId, 'cancelling');
    await processPlan(deps, jobId);
    expect((await deps.store.get(jobId))?.status).toBe('cancelling');
    expect(deps.queue.chunks).toEqual([]);
  });
});
