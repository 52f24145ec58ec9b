/**
 * bench:gpu — the compute-heavy model on a GPU through ONNX Runtime's WebGPU provider (bundled in
 * onnxruntime-node on Linux x64; needs a Vulkan driver, see ../shared/GPU.md): raw ONNX Runtime at the
 * best fixed batch, the auto-tuned batch, and the engine scoring Arrow batches on `webgpu:0`, plus the
 * largest relative difference from the CPU's scores on the same rows, the engine's TFLOP/s and, where the
 * GPU's fp32 peak is known (table below, or --peak-tflops), the fraction of it. A reduced-precision model
 * (compute-heavy-fp16) is compared with the CPU at its own tolerance and also with its float32 original on
 * the GPU. One JSON line; on a host without a usable GPU it prints {"bench":"gpu","error":…} and exits 2.
 *   npm run bench:gpu [-- --model compute-heavy|compute-heavy-fp16 --rows 400000 --peak-tflops 66.9]
 */
import { readdir, readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { autoBatchRows } from '../../services/scoring/auto-batch.js';
import { diagnoseVulkan } from '../../services/scoring/gpu-binding.js';
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
    // The GPU's dense fp32 peak, where the table below does not know it.
    'peak-tflops': { type: 'string' },
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
      // What this host lacks for WebGPU, where that is visible from outside the driver.
      ...(diagnoseVulkan() !== undefined && { missing: diagnoseVulkan() }),
    }),
  );
  process.exit(2);
}

/** Dense fp32 peaks (TFLOP/s, without tensor cores) by the name the NVIDIA driver reports. */
const FP32_PEAK_TFLOPS: Array<[RegExp, number]> = [
  [/H200/, 66.9],
  [/H100.*PCIe/, 51.2],
  [/H100/, 66.9],
  [/A100/, 19.5],
  [/L40S/, 91.6],
  [/L4\b/, 30.3],
  [/A10G?\b/, 31.2],
  [/T4\b/, 8.1],
];

/** The first NVIDIA GPU's name, from the driver's /proc listing (what nvidia-smi prints). */
async function gpuName(): Promise<string | undefined> {
  const root = '/proc/driver/nvidia/gpus';
  const [first] = (await readdir(root).catch(() => [])).sort();
  if (first === undefined) return undefined;
  const text = await readFile(`${root}/${first}/information`, 'utf8').catch(() => '');
  return /^Model:\s*(.+?)\s*$/m.exec(text)?.[1];
}

/** Largest |a − b| relative to max(|b|, 0.1), the scale the model tests use near zero. */
function worstRelative(a: Float32Array, b: Float32Array): number {
  let worst = 0;
  for (let i = 0; i < b.length; i++)
    worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / Math.max(0.1, Math.abs(b[i]!)));
  return worst;
}

const gpuModel = await gpuName();
const peakTflops =
  values['peak-tflops'] !== undefined
    ? Number(values['peak-tflops'])
    : FP32_PEAK_TFLOPS.find(([pattern]) => gpuModel !== undefined && pattern.test(gpuModel))?.[1];
const path = await modelPath(name);
const input = modelFacts[name].inputs[0]!;
if (!input.isTensor) throw new Error(`${name}: input is not a tensor`);
const width = Number(input.shape[1]);
const output = modelFacts[name].outputs[0]!.name;

const facts = modelFacts[name];
const tolerance = facts.tolerance ?? 1e-5;
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
  const maxRelDiff = worstRelative(onGpu, onCpu);
  // A reduced-precision model: what it loses against its float32 original, both on the GPU.
  let vsFloat32: number | undefined;
  if (facts.float32Of !== undefined) {
    const original = await ort.InferenceSession.create(
      await modelPath(facts.float32Of),
      sessionOptionsFor(device),
    );
    vsFloat32 = worstRelative(onGpu, (await original.run(feeds))[output]!.data as Float32Array);
    await original.release();
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
        matchesCpu: maxRelDiff <= tolerance,
        ...(vsFloat32 !== undefined && { maxRelDiffVsFloat32: vsFloat32, float32Model: facts.float32Of }),
        ...(facts.flopsPerRow !== undefined && {
          engineTflops: Number(((engineRowsPerSec * facts.flopsPerRow) / 1e12).toFixed(2)),
          ...(peakTflops !== undefined && {
            gpu: gpuModel,
            fp32PeakTflops: peakTflops,
            fractionOfFp32Peak: Number(
              ((engineRowsPerSec * facts.flopsPerRow) / 1e12 / peakTflops).toFixed(3),
            ),
          }),
        }),
      }),
    );
  } finally {
    await host.close();
  }
} finally {
  await gpu.release();
  await cpu.release();
}
