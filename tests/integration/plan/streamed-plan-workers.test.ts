import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { submitJob } from '../../../jobs/submit-job.js';
import { makeFileStorage } from '../../../services/storage/file-storage.js';
import { tabularAs } from '../../../scripts/lib/datasets.js';
import { modelPath } from '../../../scripts/lib/models.js';
import { featureColumns, startPipeline, type TestPipeline } from '../../helpers/pipeline.js';

/** Rows of the CSV: 100,000 × (id + 64 floats), 69 MB (the 500,000-row 343 MB one is too slow on 2 cores). */
const ROWS = 100_000;
const CHUNK_ROWS = 10_000;

describe('a streamed plan of one CSV object feeds every worker', () => {
  let dir: string;
  let csvUri: string;
  const pipelines: TestPipeline[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'quiver-streamed-'));
    csvUri = pathToFileURL(await tabularAs('csv', ROWS)).href;
    await writeFile(join(dir, 'model.onnx'), await readFile(await modelPath('tabular-mlp')));
    const storage = makeFileStorage();
    const first = await startPipeline({ storage, scoreConcurrency: 1 });
    pipelines.push(first);
    for (let i = 0; i < 2; i++) {
      pipelines.push(await startPipeline({ storage, scoreConcurrency: 1, prefix: first.prefix }));
    }
  }, 120_000);

  afterAll(async () => {
    // The joined pipelines first: the first one deletes the shared prefix's keys.
    for (const pipeline of [...pipelines].reverse()) await pipeline.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('three workers each commit chunks of the one object, and every row is scored once', async () => {
    const [first] = pipelines;
    const { record } = await submitJob(
      { store: first!.store, queue: first!.queues },
      {
        name: 'streamed-csv',
        input: { uri: csvUri, format: 'csv' },
        model: {
          uri: pathToFileURL(join(dir, 'model.onnx')).href,
          inputs: { features: { columns: featureColumns } },
          outputs: { score: { column: 'score' } },
        },
        output: { uri: pathToFileURL(join(dir, 'out/')).href, format: 'parquet', passthrough: ['id'] },
        batch: { rows: 2_048, chunkRows: CHUNK_ROWS },
      },
    );
    const done = await first!.settle(record.id, 55_000);
    expect(done.status, JSON.stringify(done.error)).toBe('succeeded');
    expect(done.progress).toMatchObject({
      chunksTotal: ROWS / CHUNK_ROWS,
      chunksDone: ROWS / CHUNK_ROWS,
      rowsScored: ROWS,
      rowsRejected: 0,
    });
    const committedBy = pipelines.map((p) => p.log.withMessage('chunk committed').length);
    expect(committedBy.reduce((a, b) => a + b, 0)).toBe(ROWS / CHUNK_ROWS);
    expect(
      committedBy.every((n) => n >= 1),
      `chunks committed per worker: ${committedBy.join(', ')}`,
    ).toBe(true);
  }, 60_000);
});
