import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { processFinalize } from '../../../jobs/finalize/process-finalize.js';
import { CommitsIncomplete } from '../../../jobs/finalize/errors/commits-incomplete.js';
import { processPlan } from '../../../jobs/plan/process-plan.js';
import { processScore } from '../../../jobs/score/process-score.js';
import { outputLayout } from '../../../jobs/output-layout.js';
import { type Manifest, manifestSchema } from '../../../schemas/manifest.js';
import { readAcceptedCommit } from '../../helpers/accepted-commit.js';
import { fakeInput } from '../../helpers/memory-ports/fake-readers.js';
import { FAKE_INPUT_URI, fakeJobSpec } from '../../helpers/memory-ports/fake-job-spec.js';
import { memoryPipelineDeps } from '../../helpers/memory-ports/memory-pipeline-deps.js';
import type { JobSpecInput } from '../../../schemas/job-spec.js';

/** A job over `a.csv` of `rows` rows, planned; `score` chunks scored (default all). */
async function scoredJob(rows: number, spec: Partial<JobSpecInput> = {}, score?: number[]) {
  const deps = memoryPipelineDeps();
  await deps.storage.write(`${FAKE_INPUT_URI}a.csv`, new TextEncoder().encode(fakeInput(rows)));
  const { record } = await deps.store.create(fakeJobSpec(spec));
  await processPlan(deps, record.id);
  const chunks = deps.queue.chunks.map((c) => c.chunk);
  for (const chunk of chunks)
    if (!score || score.includes(chunk.index)) await processScore(deps, record.id, chunk);
  const layout = outputLayout(record.spec.output.uri, record.id, record.spec.output.format);
  return { deps, jobId: record.id, layout, chunks };
}

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

describe('processFinalize', () => {
  it('writes a manifest of exactly the accepted parts with their sha256, succeeds, and sweeps the rest', async () => {
    const { deps, jobId, layout } = await scoredJob(25);
    // What a zombie attempt and a refused commit left behind: objects nothing accepted references.
    const zombie = `${layout.root}/part-00001-zombie000000.jsonl`;
    const foreignMarker = layout.commit(1, 'zombie000000');
    const foreignSegment = layout.segmentMarker(1, '000000000000-zombie000000');
    for (const uri of [zombie, foreignMarker, foreignSegment])
      await deps.storage.write(uri, new Uint8Array([1]));

    await processFinalize(deps, jobId);

    const record = await deps.store.get(jobId);
    expect(record?.status).toBe('succeeded');
    expect(record?.output.manifestUri).toBe(layout.manifest);
    const manifest: Manifest = manifestSchema.parse(
      JSON.parse(new TextDecoder().decode(await deps.storage.read(layout.manifest))),
    );
    const commits = await Promise.all(
      [0, 1, 2].map((i) => readAcceptedCommit(deps.store, deps.storage, layout, jobId, i)),
    );
    const accepted = commits.flatMap((c) => c.segments.map((s) => ({ index: c.index, uri: s.part!.uri })));
    expect(manifest.parts.map((p) => ({ index: p.index, uri: p.uri }))).toEqual(accepted);
    for (const part of manifest.parts) {
      const bytes = await deps.storage.read(part.uri);
      expect(part.sha256).toBe(sha256(bytes));
      expect(part.bytes).toBe(bytes.byteLength);
    }
    expect(manifest).toMatchObject({ jobId, inputRows: 25, rowsScored: 25, rowsRejected: 0 });
    expect(manifest.modelSha256).toBe(record?.modelSha256);
    expect(manifest.inputs?.map((i) => i.uri)).toEqual([`${FAKE_INPUT_URI}a.csv`]);
    expect(deps.storage.objects.has(layout.success)).toBe(true);

    for (const uri of [zombie, foreignMarker, foreignSegment])
      expect(deps.storage.objects.has(uri)).toBe(false);
    for (const c of commits) expect(deps.storage.objects.has(layout.commit(c.index, c.attempt))).toBe(true);
    expect(deps.log.withMessage('unreferenced objects deleted')[0]).toMatchObject({ deleted: 3 });
  });

  it('lists refused-row files under rejected', async () => {
    const { deps, jobId, layout, chunks } = await scoredJob(
      10,
      { errors: { onInvalidRow: 'skip', maxInvalidFraction: 0.5 } },
      [],
    );
    deps.scorers.options.reject = (_uri, row) => row === 3;
    await processScore(deps, jobId, chunks[0]!);
    await processFinalize(deps, jobId);
    const manifest = manifestSchema.parse(
      JSON.parse(new TextDecoder().decode(await deps.storage.read(layout.manifest))),
    );
    expect(manifest).toMatchObject({ inputRows: 10, rowsScored: 9, rowsRejected: 1 });
    expect(manifest.rejected).toHaveLength(1);
    expect(manifest.rejected[0]).toMatchObject({ index: 0, rows: 1 });
    expect(manifest.rejected[0]!.sha256).toBe(sha256(await deps.storage.read(manifest.rejected[0]!.uri)));
  });

  it('refuses to finish while a chunk has no accepted commit', async () => {
    const { deps, jobId, layout } = await scoredJob(20, {}, [0]);
    await expect(processFinalize(deps, jobId)).rejects.toBeInstanceOf(CommitsIncomplete);
    expect(deps.storage.objects.has(layout.manifest)).toBe(false);
    expect((await deps.store.get(jobId))?.status).toBe('running');
  });

  it('a cancelling job becomes cancelled without a manifest or _SUCCESS', async () => {
    const { deps, jobId, layout } = await scoredJob(20, {}, [0]);
    await deps.store.transition(jobId, 'cancelling');
    await processFinalize(deps, jobId);
    expect((await deps.store.get(jobId))?.status).toBe('cancelled');
    expect(deps.storage.objects.has(layout.manifest)).toBe(false);
    expect(deps.storage.objects.has(layout.success)).toBe(false);
  });

  it('a re-run on a succeeded job finishes the sweep and announces the outcome again', async () => {
    const { deps, jobId, layout } = await scoredJob(10);
    const announced: string[] = [];
    deps.onTerminal = (record) => {
      announced.push(record.status);
      return Promise.resolve();
    };
    await processFinalize(deps, jobId);
    const late = `${layout.root}/part-00000-latezombie00.jsonl`;
    await deps.storage.write(late, new Uint8Array([1]));
    await processFinalize(deps, jobId);
    expect(deps.storage.objects.has(late)).toBe(false);
    expect(deps.storage.objects.has(layout.manifest)).toBe(true);
    expect(announced).toEqual(['succeeded']);
  });
});
