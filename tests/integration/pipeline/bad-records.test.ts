import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { outputLayout } from '../../../jobs/output-layout.js';
import { readAcceptedCommit } from '../../helpers/accepted-commit.js';
import type { PipelineDeps } from '../../../jobs/pipeline-deps.js';
import { planInput } from '../../../jobs/plan/plan-input.js';
import { processScore } from '../../../jobs/score/process-score.js';
import { submitJob } from '../../../jobs/submit-job.js';
import { type JobSpecInput, parseJobSpec } from '../../../schemas/job-spec.js';
import type { Manifest } from '../../../schemas/manifest.js';
import { makeFormatReaders } from '../../../services/formats/make-reader.js';
import { makeFileStorage } from '../../../services/storage/file-storage.js';
import type { Storage } from '../../../jobs/ports/storage.js';
import { modelPath } from '../../../scripts/lib/models.js';
import { featureColumns, startPipeline, type TestPipeline } from '../../helpers/pipeline.js';
import { recordingQueue } from '../../helpers/recording-queue.js';
import { makeRecordingLog } from '../../helpers/recording-log.js';

const ROWS = 3_000;
/** Input records (by id) that cannot be decoded: too few fields, too many, a non-number. */
const BAD = new Map<number, (good: string) => string>([
  [0, (line) => line.split(',').slice(0, 10).join(',')],
  [700, (line) => `${line},extra`],
  [1_500, (line) => line.replace(/,[^,]*$/, ',not-a-number')],
  [2_999, (line) => line.split(',').slice(0, 2).join(',')],
]);

/** id + f0..f63, ids contiguous across the two files; the BAD ids are broken. */
function csvOf(from: number, count: number): string {
  const lines = [['id', ...featureColumns].join(',')];
  for (let id = from; id < from + count; id++) {
    const good = [id, ...featureColumns.map((_, j) => ((id * 7 + j) % 101) / 101)].join(',');
    lines.push(BAD.get(id)?.(good) ?? good);
  }
  return `${lines.join('\n')}\n`;
}

const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);

describe('records that cannot be decoded (real Redis, files, ONNX Runtime)', () => {
  let dir: string;
  let root: string;
  let storage: Storage;
  let pipeline: TestPipeline;
  const readers = makeFormatReaders();

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'quiver-bad-records-'));
    root = `file://${dir}`;
    storage = makeFileStorage();
    await storage.write(`${root}/models/mlp.onnx`, await readFile(await modelPath('tabular-mlp')));
    await storage.write(`${root}/in/a.csv`, new TextEncoder().encode(csvOf(0, 2_000)));
    await storage.write(`${root}/in/b.csv`, new TextEncoder().encode(csvOf(2_000, 1_000)));
    pipeline = await startPipeline({ storage });
  }, 60_000);

  afterAll(async () => {
    await pipeline?.close();
    await readers.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const spec = (onInvalidRow: 'fail' | 'skip', out: string): JobSpecInput => ({
    input: { uri: `${root}/in/`, format: 'csv' },
    model: {
      uri: `${root}/models/mlp.onnx`,
      inputs: { features: { columns: featureColumns } },
      outputs: { score: { column: 'score' } },
    },
    output: { uri: `${root}/${out}/`, format: 'parquet', passthrough: ['id'] },
    batch: { rows: 256, chunkRows: 1_200 },
    errors: { onInvalidRow, maxInvalidFraction: 0.01 },
  });

  async function idsOf(parts: ReadonlyArray<{ uri: string }>): Promise<number[]> {
    const ids: number[] = [];
    for (const part of parts) {
      const size = (await storage.stat(part.uri)).size;
      for await (const batch of readers
        .readerFor('parquet')
        .readPart(storage, { uri: part.uri, size, range: { kind: 'whole' } }))
        for (let r = 0; r < batch.numRows; r++) ids.push(Number(batch.getChild('id')!.get(r)));
    }
    return ids;
  }

  it('under skip, refuses exactly the bad records with their text and reason, and scores the rest once', async () => {
    const { record } = await submitJob(
      { store: pipeline.store, queue: pipeline.queues },
      spec('skip', 'skip'),
    );
    const done = await pipeline.settle(record.id);
    expect(done.status, JSON.stringify(done.error)).toBe('succeeded');
    expect(done.progress).toMatchObject({ rowsScored: ROWS - BAD.size, rowsRejected: BAD.size });

    const manifest = JSON.parse(text(await storage.read(`${done.output.uri}_manifest.json`))) as Manifest;
    expect(manifest).toMatchObject({ inputRows: ROWS, rowsScored: ROWS - BAD.size, rowsRejected: BAD.size });
    expect(await idsOf(manifest.parts)).toEqual(
      Array.from({ length: ROWS }, (_, id) => id).filter((id) => !BAD.has(id)),
    );

    const refused = [];
    for (const file of manifest.rejected)
      for (const line of text(await storage.read(file.uri))
        .trim()
        .split('\n'))
        refused.push(JSON.parse(line) as Record<string, unknown>);
    // Each bad record once, with its object, its row there, the code and the record as it was.
    expect(
      refused.map((r) => [String(r._uri).split('/').at(-1), r._objectRow, String(r._reason).split(':')[0]]),
    ).toEqual([
      ['a.csv', 0, 'CSV_RAGGED_ROW'],
      ['a.csv', 700, 'CSV_RAGGED_ROW'],
      ['a.csv', 1_500, 'VALUE_INVALID'],
      ['b.csv', 999, 'CSV_RAGGED_ROW'],
    ]);
    expect(refused.every((r) => typeof r._record === 'string' && r._record.length > 0)).toBe(true);
    expect(refused[1]!._record).toMatch(/^700,.*,extra$/);
  });

  it('under fail, fails the job with the code, the object and the row', async () => {
    const { record } = await submitJob(
      { store: pipeline.store, queue: pipeline.queues },
      spec('fail', 'fail'),
    );
    const done = await pipeline.settle(record.id);
    expect(done.status).toBe('failed');
    expect(done.error).toMatchObject({ code: 'CSV_RAGGED_ROW', uri: `${root}/in/a.csv`, row: 0 });
  });

  it('a chunk resumed from its checkpoints refuses each bad record once, in the segment it belongs to', async () => {
    const parsed = parseJobSpec({ ...spec('skip', 'resume'), batch: { rows: 256, chunkRows: 1_000_000 } });
    const { record } = await pipeline.store.create(parsed);
    await pipeline.store.transition(record.id, 'planning');
    const [chunk] = await planInput(storage, readers, parsed.input, {
      chunkRows: 1_000_000,
      chunkBytes: 1 << 30,
    });
    expect(chunk!.parts).toHaveLength(2);
    await pipeline.store.setChunksTotal(record.id, 1);
    await pipeline.store.transition(record.id, 'running');
    const abort = new AbortController();
    // Killed after its fourth checkpoint: past the bad records at rows 0 and 700.
    const log = makeRecordingLog(() => {
      if (log.withMessage('segment committed').length === 4) abort.abort(new Error('worker killed'));
    });
    const deps: PipelineDeps = { ...pipeline.worker.deps, queue: recordingQueue(), checkpointMs: 0, log };
    await expect(processScore(deps, record.id, chunk!, abort.signal)).rejects.toThrow();
    const rerun = makeRecordingLog();
    await processScore({ ...deps, log: rerun }, record.id, chunk!);
    expect(rerun.withMessage('chunk resumed')).toHaveLength(1);

    const layout = outputLayout(parsed.output.uri, record.id, 'parquet');
    const commit = await readAcceptedCommit(pipeline.store, storage, layout, record.id, 0);
    expect([commit.rows, commit.rejected]).toEqual([ROWS - BAD.size, BAD.size]);
    commit.segments.forEach((s, i) => expect(s.rowStart).toBe(i === 0 ? 0 : commit.segments[i - 1]!.rowEnd));
    expect(await idsOf(commit.segments.map((s) => ({ uri: s.part!.uri })))).toEqual(
      Array.from({ length: ROWS }, (_, id) => id).filter((id) => !BAD.has(id)),
    );
    const refusedRows: unknown[] = [];
    for (const s of commit.segments.filter((seg) => seg.rejectedFile))
      for (const line of text(await storage.read(s.rejectedFile!.uri))
        .trim()
        .split('\n'))
        refusedRows.push((JSON.parse(line) as { _objectRow: number })._objectRow);
    expect(refusedRows).toEqual([0, 700, 1_500, 999]);
  });
});
