import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Field, Float32, Int64, RecordBatch, Schema, Struct, makeData } from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { modelPath } from '../../../scripts/lib/models.js';
import { fileTuningCache } from '../../../services/scoring/auto-batch.js';
import type { BatchTuning } from '../../../services/scoring/batch-tuner.js';
import { FeatureMappingError } from '../../../services/scoring/errors/feature-mapping-error.js';
import { ModelLoadError } from '../../../services/scoring/errors/model-load-error.js';
import { type OpenedModel, openModel, prepareScoring } from '../../../services/scoring/open-scorer.js';
import { makeFileStorage } from '../../../services/storage/file-storage.js';

function sample(rows: number, width: number): RecordBatch {
  const fields = [
    new Field('id', new Int64(), false),
    ...Array.from({ length: width }, (_, j) => new Field(`f${j}`, new Float32(), false)),
  ];
  const children = [
    makeData({
      type: new Int64(),
      length: rows,
      data: BigInt64Array.from({ length: rows }, (_, i) => BigInt(i)),
    }),
    ...Array.from({ length: width }, (_, j) =>
      makeData({
        type: new Float32(),
        length: rows,
        data: Float32Array.from({ length: rows }, (_, i) => ((i * 31 + j * 7) % 97) / 97),
      }),
    ),
  ];
  return new RecordBatch(
    new Schema(fields),
    makeData({ type: new Struct(fields), length: rows, nullCount: 0, children }),
  );
}

describe('openModel + prepareScoring', () => {
  const storage = makeFileStorage();
  let dir: string;
  const opened: OpenedModel[] = [];
  const open = async (uri: string): Promise<OpenedModel> => {
    const model = await openModel(storage, { uri }, { cacheDir: join(dir, 'models'), intraOpThreads: 1 });
    opened.push(model);
    return model;
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'quiver-scorer-'));
  });
  afterAll(async () => {
    await Promise.all(opened.map((o) => o.host.close()));
    await rm(dir, { recursive: true, force: true });
  });

  it('tunes the batch size on real rows once, then reads it from the tuning cache', async () => {
    const model = await open(pathToFileURL(await modelPath('tabular-mlp')).href);
    const data = sample(3_000, 64);
    const cache = fileTuningCache(join(dir, 'tuning.json'));
    const logs: string[] = [];
    const options = {
      schema: data.schema,
      model: { uri: model.model.uri },
      passthrough: ['id'],
      batch: { rows: 'auto' as const, chunkRows: 500_000 },
      sample: [data],
      tuningCache: cache,
      maxBatchRows: 8_192,
      log: (m: string) => logs.push(m),
    };
    const first = await prepareScoring(model, options);
    expect(first.tuning!.trials.length).toBeGreaterThan(1);
    expect(first.tuning!.trials.every((t) => t.rows <= 8_192 && t.rowsPerSec > 0)).toBe(true);
    expect(first.batchRows).toBe(first.tuning!.rows);
    expect(logs.some((m) => m.includes('default mapping'))).toBe(true);
    // A second preparation for the same model digest and device probes nothing.
    const cached: BatchTuning = { ...first.tuning!, rows: 1_234 };
    const stored = JSON.parse(await readFile(join(dir, 'tuning.json'), 'utf8')) as Record<
      string,
      BatchTuning
    >;
    const key = Object.keys(stored)[0]!;
    expect(key).toContain(model.model.sha256);
    expect(key).toContain('cpu');
    await cache.set(key, cached);
    const second = await prepareScoring(model, options);
    expect(second.batchRows).toBe(1_234);
    // The engine it built scores the sample.
    let rows = 0;
    for await (const scored of second.engine.score([data])) rows += scored.output.numRows;
    expect(rows).toBe(3_000);
  });

  it('refuses a ZipMap classifier unless its tensor outputs are mapped, saying how to re-export', async () => {
    const model = await open(pathToFileURL(await modelPath('zipmap-classifier')).href);
    const data = sample(10, 4);
    const base = {
      schema: data.schema,
      passthrough: ['id'],
      batch: { rows: 64, chunkRows: 500_000 },
      sample: [data],
    };
    const error = await prepareScoring(model, { ...base, model: { uri: model.model.uri } }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(FeatureMappingError);
    expect((error as FeatureMappingError).code).toBe('MODEL_OUTPUT_UNSUPPORTED');
    expect((error as FeatureMappingError).message).toMatch(/zipmap/i);
    const mapped = await prepareScoring(model, {
      ...base,
      model: { uri: model.model.uri, outputs: { output_label: { column: 'label' } } },
    });
    const out = [];
    for await (const scored of mapped.engine.score([data])) out.push(scored.output);
    expect(out[0]!.schema.fields.map((f) => f.name)).toEqual(['id', 'label']);
  });

  it('names the model URI when the file is not an ONNX model', async () => {
    const path = join(dir, 'not-a-model.onnx');
    await writeFile(path, 'id,score\n1,0.5\n');
    const uri = pathToFileURL(path).href;
    const error = await openModel(storage, { uri }, { cacheDir: join(dir, 'models') }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ModelLoadError);
    expect((error as ModelLoadError).code).toBe('MODEL_INVALID');
    expect((error as ModelLoadError).message).toContain(uri);
  });
});
