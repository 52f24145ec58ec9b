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

  it('more chunks than maxChunksPerJob fails with TOO_MANY_CHUNKS before anything is queued', async () => {
    const { deps, jobId } = await plannedJob({ 'a.csv': 31 });
    deps.maxChunksPerJob = 3;
    await expect(processPlan(deps, jobId)).rejects.toMatchObject({ code: 'TOO_MANY_CHUNKS' });
    expect(deps.queue.chunks).toEqual([]);
    expect((await deps.store.get(jobId))?.progress.chunksTotal).toBe(0);
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
