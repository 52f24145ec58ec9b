/**
 * bench:gpu — the compute-heavy model on a GPU through ONNX Runtime's WebGPU provider (bundled in
 * onnxruntime-node on Linux x64; needs a Vulkan driver, see ../shared/GPU.md): raw ONNX Runtime at the
 * best fixed batch, the auto-tuned batch, and the engine scoring Arrow batches on `webgpu:0`, plus the
 * largest relative difference from the CPU's scores on the same rows. One JSON line; on a host without a
 * usable GPU it prints {"bench":"gpu","error":…} and exits 2.
 *   npm run bench:gpu [-- --model compute-heavy --rows 400000]
 */
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { autoBatchRows } from '../../services/scoring/auto-batch.js';
import { sessionOptionsFor } from '../../services/scoring/execution-providers.js';
import { resolveFeatureMapping } from '../../services/scoring/feature-mapping.js';
import { resolveOutputMapping } from '../../services/scoring/output-mapping.js';
import { makeScoringEngine } from '../../services/scoring/scoring-engine.js';
import { makeWorkerInferenceHost } from '../../services/scoring/worker-inference-host.js';
import { type ModelName, modelFacts, modelPath } from '../lib/models.js';
import { arrowData, bestFixedBatch, random, rawRowsPerSec } from '../lib/score-bench.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'compute-heavy' },
    rows: { type: 'string', default: '400000' },
    seconds: { type: 'string', default: '1' },
  },
});
const name = values.model as ModelName;
const rows = Number(values.rows);
const seconds = Number(values.seconds);
const device = { label: 'webgpu:0', provider: 'webgpu' as const, index: 0 };

function fail(error: unknown): never {
  console.log(
    JSON.stringify({
      bench: 'gpu',
      model: name,
      device: device.label,
      error: error instanceof Error ? error.message : String(error),
    }),
  );
  process.exit(2);
}

const path = await modelPath(name);
const input = modelFacts[name].inputs[0]!;
if (!input.isTensor) throw new Error(`${name}: input is not a tensor`);
const width = Number(input.shape[1]);
const output = modelFacts[name].outputs[0]!.name;

const gpu = await ort.InferenceSession.create(path, sessionOptionsFor(device)).catch(fail);
const cpu = await ort.InferenceSession.create(
  path,
  sessionOptionsFor({ label: 'cpu', provider: 'cpu', index: 0 }),
);
try {
  // The GPU must agree with the CPU on the same rows before its speed means anything.
  const checkRows = 4_096;
  const features = Float32Array.from({ length: checkRows * width }, random(11));
  const feeds = { [input.name]: new ort.Tensor('float32', features, [checkRows, width]) };
  const [onGpu, onCpu] = [
    (await gpu.run(feeds))[output]!.data as Float32Array,
    (await cpu.run(feeds))[output]!.data as Float32Array,
  ];
  let maxRelDiff = 0;
  for (let i = 0; i < onCpu.length; i++) {
    maxRelDiff = Math.max(maxRelDiff, Math.abs(onGpu[i]! - onCpu[i]!) / Math.max(1e-6, Math.abs(onCpu[i]!)));
  }

  const best = await bestFixedBatch(
    gpu,
    input.name,
    width,
    [1_024, 4_096, 8_192, 16_384, 32_768, 65_536],
    seconds,
  );
  const data = arrowData(rows, width);
  const host = await makeWorkerInferenceHost({ modelPath: path, device: { kind: 'webgpu', index: 0 } }).catch(
    fail,
  );
  try {
    const inputs = resolveFeatureMapping(data[0]!.schema, host.metadata, undefined, { passthrough: ['id'] });
    const outputs = resolveOutputMapping(host.metadata);
    const tuning = await autoBatchRows(host, inputs, {
      sample: data.slice(0, 32),
      maxRows: 1 << 17,
      probeSeconds: seconds / 2,
    });
    const autoBatchRowsPerSec =
      best.all[tuning.rows] ?? (await rawRowsPerSec(gpu, input.name, width, tuning.rows, seconds));
    const engine = makeScoringEngine({ host, inputs, outputs, passthrough: ['id'], batchRows: tuning.rows });
    let scored = 0;
    const started = performance.now();
    for await (const out of engine.score(data)) scored += out.output.numRows;
    const engineRowsPerSec = scored / ((performance.now() - started) / 1000);
    console.log(
      JSON.stringify({
        bench: 'gpu',
        model: name,
        device: host.device.label,
        rows,
        bestFixedBatch: best.rows,
        rawRowsPerSec: Math.round(best.rowsPerSec),
        autoBatch: tuning.rows,
        autoBatchRowsPerSec: Math.round(autoBatchRowsPerSec),
        engineRowsPerSec: Math.round(engineRowsPerSec),
        ratio: Number((engineRowsPerSec / best.rowsPerSec).toFixed(3)),
        maxRelDiffVsCpu: maxRelDiff,
        matchesCpu: maxRelDiff <= 1e-5,
      }),
    );
  } finally {
    await host.close();
  }
} finally {
  await gpu.release();
  await cpu.release();
}
