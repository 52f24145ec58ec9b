/**
 * bench:score — per model: raw ONNX Runtime on in-memory tensors at the best fixed batch (the limit), the
 * batch the auto-tuner picks, and Quiver's engine scoring Arrow batches (2,048-row batches, as the Parquet
 * reader yields them) end to end: mapping, worker-thread inference, output assembly. One JSON line each.
 * `engineOverheadNsPerRow`: what the engine costs beyond ONNX Runtime itself, in CPU (all threads of this
 * process, `process.cpuUsage`): engine CPU-s − raw CPU-s over the same rows, in calls of the engine's batch
 * size on a session with the engine's options (threads that do not spin), ÷ rows; median of the rounds.
 *   npm run bench:score [-- --models tabular-mlp,compute-heavy --rows 1000000 --threads 2 --rounds 3]
 */
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { autoBatchRows } from '../../services/scoring/auto-batch.js';
import { resolveFeatureMapping } from '../../services/scoring/feature-mapping.js';
import { resolveOutputMapping } from '../../services/scoring/output-mapping.js';
import { sessionOptionsFor } from '../../services/scoring/execution-providers.js';
import { makeScoringEngine } from '../../services/scoring/scoring-engine.js';
import { makeWorkerInferenceHost } from '../../services/scoring/worker-inference-host.js';
import { type ModelName, modelFacts, modelPath } from '../lib/models.js';
import {
  arrowData,
  bestFixedBatch,
  median,
  packedArrowData,
  rawCpuSeconds,
  rawRowsPerSec,
} from '../lib/score-bench.js';
import { tuneHeapForBulkData } from '../../services/process/heap-tuning.js';

const { values } = parseArgs({
  options: {
    models: { type: 'string', default: 'tabular-mlp,tree-ensemble,multiclass,compute-heavy' },
    rows: { type: 'string' },
    threads: { type: 'string', default: String(availableParallelism()) },
    seconds: { type: 'string', default: '0.5' },
    /** `columns`: one Arrow column per feature; `packed`: one row-major list column (the reader's `pack`). */
    layout: { type: 'string', default: 'columns' },
    /** Alternating raw/engine measurements; `ratio` is the median of the rounds' ratios. */
    rounds: { type: 'string', default: '3' },
  },
});
const threads = Number(values.threads);
// The engine as the worker process runs it, with its heap setting.
tuneHeapForBulkData();
const probeSeconds = Number(values.seconds);
const sweep = [256, 1_024, 4_096, 16_384, 65_536];

/** Rows per model: enough for a few seconds of scoring at its speed on 2 cores. */
const defaultRows: Record<string, number> = { 'compute-heavy': 40_000, 'tree-ensemble': 400_000 };

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
  // Raw ONNX Runtime as the engine's sessions run it (threads that do not spin): the CPU reference.
  const quiet = await ort.InferenceSession.create(
    path,
    sessionOptionsFor({ label: 'cpu', provider: 'cpu', index: 0 }, { intraOpThreads: threads }),
  );
  const data = values.layout === 'packed' ? packedArrowData(rows, width) : arrowData(rows, width);
  const host = await makeWorkerInferenceHost({ modelPath: path, intraOpThreads: threads });
  try {
    const inputs = resolveFeatureMapping(data[0]!.schema, host.metadata, undefined, { passthrough: ['id'] });
    const outputs = resolveOutputMapping(host.metadata);
    const tuning = await autoBatchRows(host, inputs, {
      sample: data.slice(0, 64),
      maxRows: 1 << 16,
      probeSeconds,
    });
    // Raw ONNX Runtime at each sweep size and at the auto-tuned one, in the same alternating rounds.
    const sizes = [...new Set([...sweep.filter((size) => size <= rows), tuning.rows])].sort((a, b) => a - b);
    const best = await bestFixedBatch(session, input.name, width, sizes, probeSeconds, 3);
    const autoBatchRowsPerSec = best.all[tuning.rows]!;

    // This VM's speed drifts ±40% over seconds (noisy neighbours), so raw and engine are measured in
    // alternating rounds and the ratio is the median of each round's own ratio.
    const rounds: Array<{ raw: number; engine: number; overheadNs: number }> = [];
    for (let round = 0; round < Number(values.rounds); round++) {
      const rawNow = await rawRowsPerSec(session, input.name, width, best.rows, Math.max(1, probeSeconds));
      const rawCpu = await rawCpuSeconds(quiet, input.name, width, tuning.rows, rows);
      const engine = makeScoringEngine({
        host,
        inputs,
        outputs,
        passthrough: ['id'],
        batchRows: tuning.rows,
      });
      let scored = 0;
      const started = performance.now();
      const cpu = process.cpuUsage();
      for await (const out of engine.score(data)) scored += out.output.numRows;
      const used = process.cpuUsage(cpu);
      if (scored !== rows) throw new Error(`${name}: scored ${scored} of ${rows} rows`);
      const engineCpu = (used.user + used.system) / 1e6;
      rounds.push({
        raw: rawNow,
        engine: scored / ((performance.now() - started) / 1000),
        overheadNs: ((engineCpu - rawCpu) / rows) * 1e9,
      });
    }
    const ratios = rounds.map((r) => r.engine / r.raw);
    const middle = median(ratios);
    const engineRowsPerSec = median(rounds.map((r) => r.engine));
    console.log(
      JSON.stringify({
        bench: 'score',
        model: name,
        device: 'cpu',
        layout: values.layout,
        threads,
        rows,
        bestFixedBatch: best.rows,
        rawRowsPerSec: Math.round(best.rowsPerSec),
        autoBatch: tuning.rows,
        autoBatchRowsPerSec: Math.round(autoBatchRowsPerSec),
        autoVsBest: Number((autoBatchRowsPerSec / best.rowsPerSec).toFixed(3)),
        engineRowsPerSec: Math.round(engineRowsPerSec),
        ratio: Number(middle.toFixed(3)),
        roundRatios: ratios.map((r) => Number(r.toFixed(3))),
        engineOverheadNsPerRow: Math.round(median(rounds.map((r) => r.overheadNs))),
        roundOverheadNs: rounds.map((r) => Math.round(r.overheadNs)),
      }),
    );
  } finally {
    await host.close();
    await session.release();
    await quiet.release();
  }
}
