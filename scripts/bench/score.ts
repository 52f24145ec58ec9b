/**
 * bench:score — per model: raw ONNX Runtime on in-memory tensors at the best fixed batch (the limit), the
 * batch the auto-tuner picks, and Quiver's engine scoring Arrow batches (2,048-row batches, as the Parquet
 * reader yields them) end to end: mapping, worker-thread inference, output assembly. One JSON line each.
 *   npm run bench:score [-- --models tabular-mlp,compute-heavy --rows 1000000 --threads 2]
 */
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { Field, Float32, Int64, RecordBatch, Schema, Struct, makeData, type Data } from 'apache-arrow';
import * as ort from 'onnxruntime-node';
import { autoBatchRows } from '../../services/scoring/auto-batch.js';
import { resolveFeatureMapping } from '../../services/scoring/feature-mapping.js';
import { resolveOutputMapping } from '../../services/scoring/output-mapping.js';
import { makeScoringEngine } from '../../services/scoring/scoring-engine.js';
import { makeWorkerInferenceHost } from '../../services/scoring/worker-inference-host.js';
import { type ModelName, modelFacts, modelPath } from '../lib/models.js';

const { values } = parseArgs({
  options: {
    models: { type: 'string', default: 'tabular-mlp,tree-ensemble,multiclass,compute-heavy' },
    rows: { type: 'string' },
    threads: { type: 'string', default: String(availableParallelism()) },
    seconds: { type: 'string', default: '0.5' },
  },
});
const threads = Number(values.threads);
const probeSeconds = Number(values.seconds);
const sweep = [256, 1_024, 4_096, 16_384, 65_536];

/** Rows per model: enough for a few seconds of scoring at its speed on 2 cores. */
const defaultRows: Record<string, number> = { 'compute-heavy': 40_000, 'tree-ensemble': 400_000 };

function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `rows` rows of `width` float32 feature columns plus an int64 id, as 2,048-row record batches. */
function arrowData(rows: number, width: number): RecordBatch[] {
  const next = random(7);
  const fields = [
    new Field('id', new Int64(), false),
    ...Array.from({ length: width }, (_, j) => new Field(`f${j}`, new Float32(), false)),
  ];
  const schema = new Schema(fields);
  const batches: RecordBatch[] = [];
  for (let start = 0; start < rows; start += 2_048) {
    const length = Math.min(2_048, rows - start);
    const children: Data[] = [
      makeData({
        type: new Int64(),
        length,
        data: BigInt64Array.from({ length }, (_, i) => BigInt(start + i)),
      }),
      ...Array.from({ length: width }, () =>
        makeData({ type: new Float32(), length, data: Float32Array.from({ length }, next) }),
      ),
    ];
    batches.push(
      new RecordBatch(schema, makeData({ type: new Struct(fields), length, nullCount: 0, children })),
    );
  }
  return batches;
}

/** Raw ONNX Runtime on this thread: the same tensor run repeatedly for `probeSeconds`. */
async function rawRowsPerSec(
  session: ort.InferenceSession,
  input: string,
  width: number,
  rows: number,
): Promise<number> {
  const data = Float32Array.from({ length: rows * width }, random(rows));
  const feeds = { [input]: new ort.Tensor('float32', data, [rows, width]) };
  await session.run(feeds);
  let runs = 0;
  const started = performance.now();
  while (runs < 2 || performance.now() - started < probeSeconds * 1000) {
    await session.run(feeds);
    runs++;
  }
  return (rows * runs) / ((performance.now() - started) / 1000);
}

for (const name of values.models.split(',') as ModelName[]) {
  const facts = modelFacts[name];
  const input = facts.inputs[0]!;
  if (!input.isTensor) throw new Error(`${name}: input is not a tensor`);
  const width = Number(input.shape[1]);
  const path = await modelPath(name);
  const rows = Number(values.rows ?? defaultRows[name] ?? 1_000_000);

  const session = await ort.InferenceSession.create(path, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
  });
  const raw: Record<number, number> = {};
  for (const size of sweep)
    if (size <= rows) raw[size] = await rawRowsPerSec(session, input.name, width, size);
  const [bestFixedBatch, rawBest] = Object.entries(raw).reduce((a, b) => (b[1] > a[1] ? b : a));

  const data = arrowData(rows, width);
  const host = await makeWorkerInferenceHost({ modelPath: path, intraOpThreads: threads });
  try {
    const inputs = resolveFeatureMapping(data[0]!.schema, host.metadata, undefined, { passthrough: ['id'] });
    const outputs = resolveOutputMapping(host.metadata);
    const tuning = await autoBatchRows(host, inputs, {
      sample: data.slice(0, 64),
      maxRows: 1 << 16,
      probeSeconds,
    });
    const autoBatchRowsPerSec =
      raw[tuning.rows] ?? (await rawRowsPerSec(session, input.name, width, tuning.rows));

    const engine = makeScoringEngine({ host, inputs, outputs, passthrough: ['id'], batchRows: tuning.rows });
    let scored = 0;
    const started = performance.now();
    for await (const out of engine.score(data)) scored += out.output.numRows;
    const engineRowsPerSec = scored / ((performance.now() - started) / 1000);
    if (scored !== rows) throw new Error(`${name}: scored ${scored} of ${rows} rows`);
    console.log(
      JSON.stringify({
        bench: 'score',
        model: name,
        device: 'cpu',
        threads,
        rows,
        bestFixedBatch: Number(bestFixedBatch),
        rawRowsPerSec: Math.round(rawBest),
        autoBatch: tuning.rows,
        autoBatchRowsPerSec: Math.round(autoBatchRowsPerSec),
        autoVsBest: Number((autoBatchRowsPerSec / rawBest).toFixed(3)),
        engineRowsPerSec: Math.round(engineRowsPerSec),
        ratio: Number((engineRowsPerSec / rawBest).toFixed(3)),
      }),
    );
  } finally {
    await host.close();
    await session.release();
  }
}
