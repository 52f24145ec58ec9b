/**
 * The prepared device check (`bash scripts/gpu-check.sh`, `npm run gpu:check`): on an accelerator host, in
 * one call, one JSON line per check —
 * - `adapters`: the GPUs this host lists (bus id, CUDA id, the driver's name for them), what WebGPU lacks
 *   here, whether the device-select layer is installed, and for each GPU whether a process bound to it
 *   (as `quiver worker --devices` binds it) opens a WebGPU session;
 * - `bench:gpu` for compute-heavy and compute-heavy-fp16 (its own lines);
 * - `equality`: the engine on `webgpu:0` against the engine on the CPU, per acceptance model, every output
 *   column within the model's tolerance (1e-5 relative; integer outputs exactly);
 * - `job`: the same job (Parquet in, the pipeline with Redis, Parquet out) through a worker on `webgpu:0`
 *   and on the CPU, outputs compared row by row — where a redis-server can be started;
 * - `multi-gpu`, with more than one GPU: one bound process per GPU scoring at once, each one's rows/s and
 *   each GPU's utilisation while they ran (a GPU left idle means the binding failed).
 * Exits 0 when every check that ran passed, 1 when one failed, 2 when no GPU adapter opens at all.
 * Run from the project root; models come from `.cache/models` (generated here, carried to a host without
 * python3-onnx).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { RecordBatch, Table } from 'apache-arrow';
import { makeFormatReaders } from '../../services/formats/make-reader.js';
import { resolveFeatureMapping } from '../../services/scoring/feature-mapping.js';
import {
  type HostGpu,
  diagnoseVulkan,
  gpuBindingEnv,
  hasDeviceSelectLayer,
  listHostGpus,
} from '../../services/scoring/gpu-binding.js';
import { resolveOutputMapping } from '../../services/scoring/output-mapping.js';
import { makeScoringEngine } from '../../services/scoring/scoring-engine.js';
import { makeWorkerInferenceHost } from '../../services/scoring/worker-inference-host.js';
import { makeFileStorage } from '../../services/storage/file-storage.js';
import type { DeviceRequest } from '../../services/scoring/devices.js';
import { runDemo } from '../lib/demo-job.js';
import { type ModelName, gpuCheckModels, modelFacts, modelPath } from '../lib/models.js';
import { arrowData } from '../lib/score-bench.js';

const { values } = parseArgs({
  options: {
    // Internal: the child a bound process runs (`adapters`, `multi-gpu`).
    'bound-child': { type: 'string' },
    seconds: { type: 'string', default: '10' },
    rows: { type: 'string', default: '65536' },
    'job-rows': { type: 'string', default: '200000' },
    // `cpu` checks the check itself on a host without a GPU: equality and job run CPU against CPU.
    device: { type: 'string', default: 'webgpu:0' },
  },
});
const seconds = Number(values.seconds);
const equalityRows = Number(values.rows);
if (values.device !== 'webgpu:0' && values.device !== 'cpu') throw new Error('--device is webgpu:0 or cpu');
const webgpu: DeviceRequest =
  values.device === 'cpu' ? { kind: 'cpu', index: 0 } : { kind: 'webgpu', index: 0 };
const gpuLabel = values.device;
const cpu: DeviceRequest = { kind: 'cpu', index: 0 };
const emit = (line: Record<string, unknown>) => console.log(JSON.stringify(line));
const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error)).split('\n')[0];

/**
 * Node's arguments for one of the project's scripts as a child: through tsx from source, or the file beside
 * this one in the slim bundle `npm run gpu:pack` builds for an accelerator host (no tsx there).
 */
const fromSource = import.meta.filename.endsWith('.ts');
const scriptArgs = (source: string, bundled: string): string[] =>
  fromSource ? ['--import', 'tsx', source] : [join(import.meta.dirname, bundled)];

/** Scores `rows` generated rows with the engine on `device`; columns by name, and the device it ran on. */
async function scoreOn(model: ModelName, device: DeviceRequest, rows: number, batchRows = 4_096) {
  const host = await makeWorkerInferenceHost({ modelPath: await modelPath(model), device });
  try {
    const input = modelFacts[model].inputs[0]!;
    if (!input.isTensor) throw new Error(`${model}: its input is not a tensor`);
    const width = Number(input.shape[1]);
    const data = arrowData(rows, width);
    const inputs = resolveFeatureMapping(data[0]!.schema, host.metadata, undefined, { passthrough: ['id'] });
    const outputs = resolveOutputMapping(host.metadata);
    const engine = makeScoringEngine({ host, inputs, outputs, passthrough: ['id'], batchRows });
    const columns = new Map<string, number[]>();
    const started = performance.now();
    for await (const { output } of engine.score(data)) collect(output, columns);
    return { device: host.device.label, columns, rowsPerSec: rows / ((performance.now() - started) / 1000) };
  } finally {
    await host.close();
  }
}

function collect(batch: RecordBatch | Table, into: Map<string, number[]>): void {
  for (const field of batch.schema.fields) {
    const column = into.get(field.name) ?? [];
    // A list column (multiclass probabilities) contributes its values row by row.
    for (const v of Array.from(batch.getChild(field.name)!.toArray() as ArrayLike<unknown>)) {
      if (typeof v === 'object' && v !== null && 'toArray' in v) {
        for (const x of Array.from((v as { toArray(): ArrayLike<number> }).toArray())) column.push(Number(x));
      } else column.push(Number(v));
    }
    into.set(field.name, column);
  }
}

/** Worst difference per column: relative to max(|b|, 0.1) for floats, count of unequal values for integers. */
function compareColumns(a: Map<string, number[]>, b: Map<string, number[]>, integers: Set<string>) {
  return Object.fromEntries(
    [...b].map(([name, want]) => {
      const got = a.get(name) ?? [];
      if (got.length !== want.length) return [name, { rows: got.length, expectedRows: want.length }];
      if (integers.has(name)) return [name, { unequal: want.filter((w, i) => got[i] !== w).length }];
      let worst = 0;
      for (let i = 0; i < want.length; i++) {
        worst = Math.max(worst, Math.abs(got[i]! - want[i]!) / Math.max(Math.abs(want[i]!), 0.1));
      }
      return [name, { worstRelative: worst }];
    }),
  ) as Record<string, { worstRelative?: number; unequal?: number; rows?: number }>;
}

const passes = (diff: ReturnType<typeof compareColumns>, tolerance: number) =>
  Object.values(diff).every(
    (d) => d.rows === undefined && (d.unequal ?? 0) === 0 && (d.worstRelative ?? 0) <= tolerance,
  );

/** Runs this file again as a child bound to `gpu`, returning its JSON line. */
function runBound(mode: string, env: Record<string, string>): Promise<Record<string, unknown>> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [
        ...scriptArgs(import.meta.filename, 'check.js'),
        '--bound-child',
        mode,
        '--seconds',
        String(seconds),
        '--device',
        gpuLabel,
      ],
      { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.on('close', (code) => {
      const last = out.trim().split('\n').pop() ?? '';
      try {
        resolve(JSON.parse(last) as Record<string, unknown>);
      } catch {
        resolve({ error: `exit ${code}: ${last}` });
      }
    });
  });
}

/** What a bound child does: open a WebGPU session (`probe`), or score compute-heavy for `seconds` (`score`). */
async function boundChild(mode: string): Promise<void> {
  try {
    if (mode === 'probe') {
      const host = await makeWorkerInferenceHost({
        modelPath: await modelPath('tabular-mlp'),
        device: webgpu,
      });
      emit({ device: host.device.label });
      await host.close();
      return;
    }
    const host = await makeWorkerInferenceHost({
      modelPath: await modelPath('compute-heavy'),
      device: webgpu,
    });
    try {
      const data = arrowData(65_536, 64);
      const inputs = resolveFeatureMapping(data[0]!.schema, host.metadata, undefined, {
        passthrough: ['id'],
      });
      const engine = makeScoringEngine({
        host,
        inputs,
        outputs: resolveOutputMapping(host.metadata),
        passthrough: ['id'],
        batchRows: 16_384,
      });
      let rows = 0;
      const started = performance.now();
      while (performance.now() - started < seconds * 1000) {
        for await (const { output } of engine.score(data)) rows += output.numRows;
      }
      emit({
        device: host.device.label,
        rowsPerSec: Math.round(rows / ((performance.now() - started) / 1000)),
      });
    } finally {
      await host.close();
    }
  } catch (error) {
    emit({ error: messageOf(error) });
  }
}

/** The driver's name for each GPU, by bus id. */
async function gpuNames(): Promise<Record<string, string>> {
  const root = '/proc/driver/nvidia/gpus';
  const names: Record<string, string> = {};
  for (const bus of await readdir(root).catch(() => [])) {
    const text = await readFile(join(root, bus, 'information'), 'utf8').catch(() => '');
    const name = /^Model:\s*(.+?)\s*$/m.exec(text)?.[1];
    if (name !== undefined) names[bus] = name;
  }
  return names;
}

/** `nvidia-smi`'s utilisation per bus id, sampled until `until` settles; empty without nvidia-smi. */
async function sampleUtilisation(until: Promise<unknown>): Promise<Record<string, number>> {
  const peak: Record<string, number> = {};
  let done = false;
  void until.finally(() => (done = true));
  while (!done) {
    const result = spawnSync(
      'nvidia-smi',
      ['--query-gpu=pci.bus_id,utilization.gpu', '--format=csv,noheader,nounits'],
      {
        encoding: 'utf8',
      },
    );
    if (result.error !== undefined || result.status !== 0) return peak;
    for (const line of result.stdout.trim().split('\n')) {
      const [bus, util] = line.split(',').map((s) => s.trim());
      // nvidia-smi writes 00000000:3B:00.0; the kernel's listing 0000:3b:00.0.
      if (bus !== undefined)
        peak[bus.slice(-12).toLowerCase()] = Math.max(peak[bus.slice(-12).toLowerCase()] ?? 0, Number(util));
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  return peak;
}

async function main(): Promise<number> {
  let failed = false;
  if (gpuLabel === 'cpu') {
    // The bound-child path the GPU checks take, on the CPU: a probe and a short scoring run.
    const [probe, score] = [await runBound('probe', {}), await runBound('score', {})];
    emit({ check: 'adapters', device: 'cpu', probe, score });
    if (probe.device !== 'cpu' || typeof score.rowsPerSec !== 'number') return 1;
    return (await sameScores()) ? 0 : 1;
  }
  const gpus = listHostGpus();
  const names = await gpuNames();
  const bound = [];
  for (const gpu of gpus)
    bound.push({
      ...gpu,
      name: names[gpu.pciBusId ?? ''],
      probe: await runBound('probe', gpuBindingEnv(gpu)),
    });
  const missing = diagnoseVulkan();
  emit({
    check: 'adapters',
    gpus: bound,
    deviceSelectLayer: hasDeviceSelectLayer(),
    ...(missing !== undefined && { missing }),
  });
  const adapters = bound.filter((g) => g.probe.device === 'webgpu:0').length;
  if (adapters === 0) return 2;
  if (adapters < gpus.length) failed = true;

  for (const model of ['compute-heavy', 'compute-heavy-fp16']) {
    const bench = spawnSync(
      process.execPath,
      [...scriptArgs('scripts/bench/gpu.ts', 'gpu.js'), '--model', model],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
    );
    process.stdout.write(bench.stdout);
    if (bench.status !== 0 || !bench.stdout.includes('"matchesCpu":true')) failed = true;
  }

  failed ||= !(await sameScores());
  return multiGpu(gpus, failed);
}

/** The `equality` and `job` checks; whether every one that ran passed. */
async function sameScores(): Promise<boolean> {
  let failed = false;
  for (const model of gpuCheckModels) {
    try {
      const [onGpu, onCpu] = [
        await scoreOn(model, webgpu, equalityRows),
        await scoreOn(model, cpu, equalityRows),
      ];
      const integers = new Set(
        modelFacts[model].outputs.filter((o) => o.isTensor && o.type === 'int64').map((o) => o.name),
      );
      integers.add('id');
      const diff = compareColumns(onGpu.columns, onCpu.columns, integers);
      const ok = onGpu.device === gpuLabel && passes(diff, modelFacts[model].tolerance ?? 1e-5);
      failed ||= !ok;
      emit({ check: 'equality', model, device: onGpu.device, rows: equalityRows, columns: diff, pass: ok });
    } catch (error) {
      failed = true;
      emit({ check: 'equality', model, error: messageOf(error), pass: false });
    }
  }

  if (
    spawnSync('redis-server', ['--version']).error !== undefined &&
    process.env.QUIVER_REDIS_URL === undefined
  ) {
    emit({ check: 'job', skipped: 'no redis-server on this host (and no QUIVER_REDIS_URL)' });
  } else {
    const work = await mkdtemp(join(tmpdir(), 'quiver-gpu-job-'));
    try {
      const rows = Number(values['job-rows']);
      const common = { rows, model: 'compute-heavy' as const, print: () => undefined };
      const gpuJob = await runDemo({ ...common, device: webgpu, output: join(work, 'gpu') });
      const cpuJob = await runDemo({ ...common, device: cpu, output: join(work, 'cpu') });
      const [a, b] = [await readParts(gpuJob.parts), await readParts(cpuJob.parts)];
      const diff = compareColumns(a, b, new Set(['id']));
      const ok = gpuJob.device === gpuLabel && gpuJob.rowsScored === rows && passes(diff, 1e-5);
      failed ||= !ok;
      emit({
        check: 'job',
        rows,
        device: gpuJob.device,
        seconds: { gpu: gpuJob.seconds, cpu: cpuJob.seconds },
        columns: diff,
        pass: ok,
      });
    } catch (error) {
      failed = true;
      emit({ check: 'job', error: messageOf(error), pass: false });
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }

  return !failed;
}

/** The `multi-gpu` check, with more than one GPU; the exit status. */
async function multiGpu(gpus: HostGpu[], failed: boolean): Promise<number> {
  if (gpus.length > 1) {
    const alone = await runBound('score', gpuBindingEnv(gpus[0]!));
    const together = Promise.all(gpus.map((gpu) => runBound('score', gpuBindingEnv(gpu))));
    const utilisation = await sampleUtilisation(together);
    const each = await together;
    const total = each.reduce((sum, r) => sum + (typeof r.rowsPerSec === 'number' ? r.rowsPerSec : 0), 0);
    const idle = gpus
      .filter((g) => g.pciBusId !== undefined && (utilisation[g.pciBusId] ?? 0) < 10)
      .map((g) => g.pciBusId);
    const ok = each.every((r) => r.device === 'webgpu:0') && idle.length === 0;
    failed ||= !ok;
    emit({
      check: 'multi-gpu',
      processes: gpus.length,
      aloneRowsPerSec: alone.rowsPerSec,
      each,
      totalRowsPerSec: total,
      scaling:
        typeof alone.rowsPerSec === 'number' ? Number((total / alone.rowsPerSec).toFixed(2)) : undefined,
      peakUtilisation: utilisation,
      idleGpus: idle,
      pass: ok,
    });
  }
  return failed ? 1 : 0;
}

/** A job's output parts, as columns. */
async function readParts(parts: Array<{ uri: string; bytes: number }>): Promise<Map<string, number[]>> {
  const readers = makeFormatReaders();
  const storage = makeFileStorage();
  const columns = new Map<string, number[]>();
  try {
    for (const part of parts) {
      for await (const batch of readers
        .readerFor('parquet')
        .readPart(storage, { uri: part.uri, size: part.bytes, range: { kind: 'whole' } })) {
        collect(batch, columns);
      }
    }
  } finally {
    await readers.close();
  }
  return columns;
}

if (values['bound-child'] !== undefined) await boundChild(values['bound-child']);
else process.exitCode = await main();
