import { describe, expect, it, vi } from 'vitest';
import { processPlan } from '../../../jobs/plan/process-plan.js';
import { processScore } from '../../../jobs/score/process-score.js';
import { outputLayout } from '../../../jobs/output-layout.js';
import type { JobSpecInput } from '../../../schemas/job-spec.js';
import { readAcceptedCommit } from '../../helpers/accepted-commit.js';
import { fakeInput } from '../../helpers/memory-ports/fake-readers.js';
import { FAKE_INPUT_URI, FAKE_MODEL_URI, fakeJobSpec } from '../../helpers/memory-ports/fake-job-spec.js';
import { fakeScore } from '../../helpers/memory-ports/fake-scorer.js';
import {
  type MemoryPipelineDeps,
  memoryPipelineDeps,
} from '../../helpers/memory-ports/memory-pipeline-deps.js';
import { readRecordedPart } from '../../helpers/memory-ports/recording-writers.js';

const A = `${FAKE_INPUT_URI}a.csv`;

/** A planned job over `a.csv` of `rows` rows (chunks of 10): its deps, id, layout and chunks. */
async function runningJob(rows: number, spec: Partial<JobSpecInput> = {}, deps = memoryPipelineDeps()) {
  await deps.storage.write(A, new TextEncoder().encode(fakeInput(rows)));
  const { record } = await deps.store.create(fakeJobSpec(spec));
  await processPlan(deps, record.id);
  const chunks = deps.queue.chunks.map((c) => c.chunk);
  const layout = outputLayout(record.spec.output.uri, record.id, record.spec.output.format);
  return { deps, jobId: record.id, layout, chunks };
}

/** Every object under the job's folder. */
async function objectsUnder(deps: MemoryPipelineDeps, root: string): Promise<string[]> {
  const uris: string[] = [];
  for await (const o of deps.storage.list(`${root}/`)) uris.push(o.uri);
  return uris;
}

/** Makes the first write of an object whose URI contains `named` store it and then fail; the URI failed. */
function failFirstWrite(deps: MemoryPipelineDeps, named: string): string[] {
  const write = deps.storage.write.bind(deps.storage);
  const failed: string[] = [];
  deps.storage.write = async (uri, body, options) => {
    await write(uri, body, options);
    if (!uri.includes(named) || failed.length > 0) return;
    failed.push(uri);
    throw new Error(`connection reset after the PUT of ${uri}`);
  };
  return failed;
}

describe('processScore', () => {
  it('scores a chunk and commits it once, with its part holding every row scored', async () => {
    const { deps, jobId, layout, chunks } = await runningJob(25);
    await processScore(deps, jobId, chunks[1]!);

    const commit = await readAcceptedCommit(deps.store, deps.storage, layout, jobId, 1);
    expect(commit).toMatchObject({ index: 1, rows: 10, rejected: 0 });
    expect(commit.segments).toHaveLength(1);
    const part = await readRecordedPart(deps.storage, commit.segments[0]!.part!.uri);
    expect(part.rows.map((r) => r.row)).toEqual([10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
    expect(part.rows[0]!.score).toBe(fakeScore(A, 10));
    const record = await deps.store.get(jobId);
    expect(record?.progress).toMatchObject({ chunksDone: 1, rowsScored: 10, rowsRejected: 0 });
    expect(record?.status).toBe('running');
    expect(deps.queue.finalized).toEqual([]);
    expect(deps.scorers.leasesOpen()).toBe(0);
    expect(deps.events.listeners()).toBe(0);
  });

  it('a second run of a committed chunk commits nothing new and hands the last chunk on', async () => {
    const { deps, jobId, layout, chunks } = await runningJob(10);
    await processScore(deps, jobId, chunks[0]!);
    expect(deps.queue.finalized).toEqual([jobId]);
    const before = await objectsUnder(deps, layout.root);
    // The first run stopped after its commit, before the job moved on (a crash): the re-run moves it.
    deps.queue.finalized.length = 0;

    await processScore(deps, jobId, chunks[0]!);
    expect(await objectsUnder(deps, layout.root)).toEqual(before);
    expect(deps.scorers.calls.filter((c) => c.method === 'acquire')).toHaveLength(1);
    expect((await deps.store.get(jobId))?.progress).toMatchObject({ chunksDone: 1, rowsScored: 10 });
    expect(deps.queue.finalized).toEqual([jobId]);
  });

  it('leases the champion and each challenger as sessions run side by side', async () => {
    const { deps, jobId, chunks } = await runningJob(10, {
      challengers: [
        { name: 'next', model: { uri: 'file:///models/next.onnx' } },
        { name: 'other', model: { uri: 'file:///models/other.onnx' } },
      ],
    });
    await processScore(deps, jobId, chunks[0]!);
    const acquired = deps.scorers.calls.filter((c) => c.method === 'acquire');
    expect(acquired.map((c) => [c.uri, c.sideBySide])).toEqual([
      [FAKE_MODEL_URI, 3],
      ['file:///models/next.onnx', 3],
      ['file:///models/other.onnx', 3],
    ]);
    expect(deps.scorers.leasesOpen()).toBe(0);
  });

  it('the last chunk moves the job to finalizing on the counts its commit returned', async () => {
    const { deps, jobId, chunks } = await runningJob(20);
    await processScore(deps, jobId, chunks[0]!);
    expect((await deps.store.get(jobId))?.status).toBe('running');
    expect(deps.queue.finalized).toEqual([]);
    await processScore(deps, jobId, chunks[1]!);
    expect((await deps.store.get(jobId))?.status).toBe('finalizing');
    expect(deps.queue.finalized).toEqual([jobId]);
  });

  it('a superseded attempt writes nothing that is referenced, and its chunk stays uncommitted', async () => {
    const { deps, jobId, layout, chunks } = await runningJob(10);
    // Another attempt takes the chunk's token while this one scores its first call.
    deps.scorers.options.beforeCall = async (rowStart) => {
      if (rowStart === 0) await deps.store.beginAttempt(jobId, 0, 'other-attempt');
    };
    await processScore(deps, jobId, chunks[0]!);

    expect(await deps.store.acceptedCommits(jobId)).toEqual(new Map());
    expect(deps.log.withMessage('attempt stopped')[0]).toMatchObject({ state: 'superseded' });
    expect(await objectsUnder(deps, layout.root)).toEqual([]);
    expect((await deps.store.get(jobId))?.progress.chunksDone).toBe(0);
    expect(deps.queue.finalized).toEqual([]);
  });

  it.each([
    ['its part', 'part-'],
    ['its marker', '_segments/'],
  ])(
    'a segment write that stores %s and then fails (an abort after the PUT) leaves nothing behind',
    async (_what, named) => {
      const { deps, jobId, layout, chunks } = await runningJob(10);
      deps.checkpointMs = 0;
      const failed = failFirstWrite(deps, named);
      await expect(processScore(deps, jobId, chunks[0]!)).rejects.toThrow(/connection reset after the PUT/);
      expect(failed).toHaveLength(1);
      expect(await deps.store.acceptedCommits(jobId)).toEqual(new Map());
      expect(deps.log.withMessage('segment committed')).toEqual([]);
      // The first segment's part and marker (stored, then refused by their writes) are gone again.
      expect(await objectsUnder(deps, layout.root)).toEqual([]);
    },
  );

  it('a chunk commit marker stored by a write that then fails is deleted; the accepted segment stays', async () => {
    const { deps, jobId, layout, chunks } = await runningJob(10);
    const failed = failFirstWrite(deps, '_commits/');
    await expect(processScore(deps, jobId, chunks[0]!)).rejects.toThrow(/connection reset after the PUT/);
    expect(failed).toHaveLength(1);
    expect(failed[0]!.startsWith(layout.commits)).toBe(true);
    expect(await deps.store.isCommitted(jobId, 0)).toBe(false);
    const left = await objectsUnder(deps, layout.root);
    expect(left).not.toContain(failed[0]);
    // The segment Redis accepted is the next attempt's resume point: its part and marker are kept.
    expect(left.filter((uri) => uri.includes('/_segments/'))).toHaveLength(1);
    expect(left.filter((uri) => uri.includes('part-00000-'))).toHaveLength(1);
  });

  it('an attempt of a job no longer running stops before reading anything', async () => {
    const { deps, jobId, chunks } = await runningJob(10);
    await deps.store.transition(jobId, 'cancelling');
    await processScore(deps, jobId, chunks[0]!);
    expect(deps.readers.reads).toEqual([]);
    expect(deps.writers.writes).toEqual([]);
  });

  it('with checkpointMs 0 commits a segment per scored call, and a re-run resumes after the last one', async () => {
    const { deps, jobId, layout, chunks } = await runningJob(10);
    deps.checkpointMs = 0;
    // Batches of 4 rows: segments [0,4) and [4,8) are accepted, then row 9 fails (a transient fault).
    deps.scorers.options.failAt = { uri: A, row: 9, permanent: false };
    await expect(processScore(deps, jobId, chunks[0]!)).rejects.toThrow(/row 9/);
    expect(deps.log.withMessage('segment committed').map((r) => [r.rowStart, r.rowEnd])).toEqual([
      [0, 4],
      [4, 8],
    ]);
    expect(await deps.store.isCommitted(jobId, 0)).toBe(false);

    deps.scorers.options.failAt = undefined;
    deps.scorers.scoredRows.length = 0;
    await processScore(deps, jobId, chunks[0]!);
    expect(deps.scorers.scoredRows).toEqual([`${A}#8`, `${A}#9`]);
    expect(deps.log.withMessage('chunk resumed')[0]).toMatchObject({ fromRow: 8, segments: 2 });
    const commit = await readAcceptedCommit(deps.store, deps.storage, layout, jobId, 0);
    expect(commit.segments.map((s) => [s.rowStart, s.rowEnd])).toEqual([
      [0, 4],
      [4, 8],
      [8, 10],
    ]);
    expect(commit.rows).toBe(10);
    const rows = [];
    for (const s of commit.segments) rows.push(...(await readRecordedPart(deps.storage, s.part!.uri)).rows);
    expect(rows.map((r) => r.row)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('refused rows go to rejected/ with their keys and are counted as rejected', async () => {
    const { deps, jobId, layout, chunks } = await runningJob(10, {
      errors: { onInvalidRow: 'skip', maxInvalidFraction: 0.5 },
    });
    deps.scorers.options.reject = (_uri, row) => row === 2 || row === 7;
    await processScore(deps, jobId, chunks[0]!);

    const commit = await readAcceptedCommit(deps.store, deps.storage, layout, jobId, 0);
    expect(commit).toMatchObject({ rows: 8, rejected: 2 });
    const file = commit.segments[0]!.rejectedFile!;
    expect(file.uri).toContain('/rejected/');
    const lines = new TextDecoder()
      .decode(await deps.storage.read(file.uri))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => [l.row, l._row, l._chunk])).toEqual([
      [2, 2, 0],
      [7, 7, 0],
    ]);
    expect(lines[0]!._reason).toMatch(/FEATURE_NULL: column "f3"/);
    const part = await readRecordedPart(deps.storage, commit.segments[0]!.part!.uri);
    expect(part.rows.map((r) => r.row)).toEqual([0, 1, 3, 4, 5, 6, 8, 9]);
    expect((await deps.store.get(jobId))?.progress).toMatchObject({ rowsScored: 8, rowsRejected: 2 });
  });

  it('refused rows past maxInvalidFraction fail the job at the commit and remove its queued chunks', async () => {
    const { deps, jobId, chunks } = await runningJob(30, {
      errors: { onInvalidRow: 'skip', maxInvalidFraction: 0.05 },
    });
    deps.scorers.options.reject = (_uri, row) => row < 2;
    await processScore(deps, jobId, chunks[0]!);
    const record = await deps.store.get(jobId);
    expect(record?.status).toBe('failed');
    expect(record?.error).toMatchObject({ code: 'ROWS_REJECTED_OVER_LIMIT', chunk: 0 });
    expect(deps.queue.removed).toEqual([jobId]);
    expect(deps.queue.finalized).toEqual([]);
  });

  it("a mapping error carries the chunk's object and the row there", async () => {
    const { deps, jobId, chunks } = await runningJob(30);
    deps.scorers.options.failAt = { uri: A, row: 17 };
    const error = await processScore(deps, jobId, chunks[1]!).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ code: 'FEATURE_NULL', permanent: true, location: { uri: A, row: 17 } });
    expect(await deps.store.isCommitted(jobId, 1)).toBe(false);
  });

  it('a resumed attempt locates errors past its resume point', async () => {
    const { deps, jobId, chunks } = await runningJob(20);
    deps.checkpointMs = 0;
    deps.scorers.options.failAt = { uri: A, row: 18, permanent: false };
    await expect(processScore(deps, jobId, chunks[1]!)).rejects.toThrow();
    deps.scorers.options.failAt = { uri: A, row: 18 };
    await expect(processScore(deps, jobId, chunks[1]!)).rejects.toMatchObject({
      location: { uri: A, row: 18 },
    });
  });

  it('a read fault fails the attempt and commits nothing', async () => {
    const { deps, jobId, chunks } = await runningJob(10);
    deps.readers.options.beforePart = (part) => {
      throw new Error(`connection reset reading ${part.uri}`);
    };
    await expect(processScore(deps, jobId, chunks[0]!)).rejects.toThrow(/connection reset/);
    expect(await deps.store.isCommitted(jobId, 0)).toBe(false);
    expect(deps.writers.writes).toEqual([]);
    expect(deps.scorers.leasesOpen()).toBe(0);
  });

  it('an input object changed since planning fails the chunk with INPUT_CHANGED', async () => {
    const { deps, jobId, chunks } = await runningJob(10);
    await deps.storage.write(A, new TextEncoder().encode(fakeInput(12)));
    await expect(processScore(deps, jobId, chunks[0]!)).rejects.toMatchObject({ code: 'INPUT_CHANGED' });
    expect(await deps.store.isCommitted(jobId, 0)).toBe(false);
  });

  it('cancelling the job stops a running chunk at once through deps.events', async () => {
    const { deps, jobId, layout, chunks } = await runningJob(10);
    let held = false;
    deps.scorers.options.beforeCall = async (rowStart, signal) => {
      if (rowStart !== 4) return;
      held = true;
      await new Promise<void>((resolve) => signal?.addEventListener('abort', () => resolve()));
    };
    // The periodic re-check never fires: only the announcement can stop the chunk.
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const scoring = processScore(deps, jobId, chunks[0]!);
    while (!held) await new Promise((r) => setTimeout(r, 1));
    await deps.store.transition(jobId, 'cancelling');
    await scoring.finally(() => vi.useRealTimers());

    expect(deps.log.withMessage('attempt stopped')[0]).toMatchObject({ state: 'cancelling' });
    expect(await deps.store.acceptedCommits(jobId)).toEqual(new Map());
    expect(await objectsUnder(deps, layout.root)).toEqual([]);
    expect(deps.scorers.leasesOpen()).toBe(0);
    expect(deps.events.listeners()).toBe(0);
  });
});
