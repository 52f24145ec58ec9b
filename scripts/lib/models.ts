import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { ModelMetadata } from '../../services/scoring/inference-host.js';
import { cacheDir } from './datasets.js';

/** The ONNX models `scripts/models/generate.py` builds for tests and benchmarks. */
export const modelNames = [
  'tabular-mlp',
  'tabular-mlp-v2',
  'tree-ensemble',
  'multiclass',
  'int64-input',
  'compute-heavy',
  'compute-heavy-fp16',
  'zipmap-classifier',
] as const;
export type ModelName = (typeof modelNames)[number];

/**
 * What the prepared device check scores (`scripts/gpu/check.ts`): the models whose only inputs are float32
 * feature tensors, which the engine scores from generated Arrow data. `npm run gpu:pack` carries these.
 */
export const gpuCheckModels: ModelName[] = [
  'tabular-mlp',
  'tree-ensemble',
  'multiclass',
  'compute-heavy',
  'compute-heavy-fp16',
];

/** What a generated model declares, and for the dense ones the work one row costs. */
export interface ModelFacts extends ModelMetadata {
  /** Multiply-adds x 2 per row of the Gemm layers; absent where FLOPs say little (trees, tiny linear). */
  flopsPerRow?: number;
  /**
   * The float32 model this one is a reduced-precision copy of: its reference is that model's, so the
   * distance from it is what the lower precision loses.
   */
  float32Of?: ModelName;
  /**
   * Largest error against the reference, relative to max(|expected|, 0.1); default 1e-5 (float32 against
   * numpy's float64).
   */
  tolerance?: number;
}

const features = (width: number): ModelMetadata['inputs'] => [
  { name: 'features', isTensor: true, type: 'float32', shape: ['N', width] },
];
const score = (shape: Array<number | string>): ModelMetadata['outputs'] => [
  { name: 'score', isTensor: true, type: 'float32', shape },
];

/** FLOPs per row of a chain of dense layers, e.g. `[64, 256, 1]`. */
function denseFlops(widths: number[]): number {
  return widths.slice(1).reduce((sum, out, i) => sum + 2 * (widths[i] ?? 0) * out, 0);
}

/** The inputs and outputs each generated model declares (the test checks them against ONNX Runtime). */
export const modelFacts: Record<ModelName, ModelFacts> = {
  'tabular-mlp': { inputs: features(64), outputs: score(['N', 1]), flopsPerRow: denseFlops([64, 256, 1]) },
  'tabular-mlp-v2': { inputs: features(64), outputs: score(['N', 1]), flopsPerRow: denseFlops([64, 256, 1]) },
  'tree-ensemble': { inputs: features(64), outputs: score(['N', 1]) },
  multiclass: {
    inputs: features(32),
    outputs: [
      { name: 'probabilities', isTensor: true, type: 'float32', shape: ['N', 5] },
      { name: 'label', isTensor: true, type: 'int64', shape: ['N'] },
    ],
    flopsPerRow: denseFlops([32, 64, 5]),
  },
  'int64-input': {
    inputs: [
      { name: 'ids', isTensor: true, type: 'int64', shape: ['N', 4] },
      { name: 'features', isTensor: true, type: 'float32', shape: ['N', 8] },
    ],
    outputs: score(['N']),
  },
  'compute-heavy': {
    inputs: features(64),
    outputs: score(['N', 1]),
    flopsPerRow: denseFlops([64, 2048, 2048, 1]),
  },
  // Weights and activations in float16, float32 in and out; the weights are compute-heavy's own (on a grid
  // float16 holds exactly). Measured on ONNX Runtime's CPU provider against the float32 model, 4,096 rows:
  // worst 4.8e-4 (relative, as `tolerance` counts), mean absolute error 1.6e-5 on a mean |score| of 0.35.
  'compute-heavy-fp16': {
    inputs: features(64),
    outputs: score(['N', 1]),
    flopsPerRow: denseFlops([64, 2048, 2048, 1]),
    float32Of: 'compute-heavy',
    tolerance: 1e-2,
  },
  'zipmap-classifier': {
    inputs: features(4),
    outputs: [
      { name: 'output_label', isTensor: true, type: 'int64', shape: ['N'] },
      // seq(map(int64, float)): what sklearn exports put behind ZipMap, and what Quiver must refuse
      { name: 'output_probability', isTensor: false },
    ],
  },
};

/** One array of a reference sample, flattened row-major. */
export interface ReferenceArray {
  type: 'float32' | 'float64' | 'int64';
  dims: number[];
  data: number[];
}

/**
 * Sample inputs for a model and the outputs numpy computes for them from the same weights, independently
 * of any ONNX runtime. Non-tensor outputs (ZipMap's) appear as the dense probabilities behind them.
 */
export interface ModelReference {
  model: ModelName;
  rows: number;
  inputs: Record<string, ReferenceArray>;
  outputs: Record<string, ReferenceArray>;
}

const python = '/usr/bin/python3';
const generator = resolve(import.meta.dirname, '../models/generate.py');
/** generate.py's exit status when numpy or onnx cannot be imported. */
const missingPackageExit = 3;

let generatorHash: Promise<string> | undefined;
const pending = new Map<string, Promise<string>>();

/** Cache names carry the generator's hash, so editing generate.py never serves a stale model. */
function hashGenerator(): Promise<string> {
  generatorHash ??= readFile(generator).then((source) =>
    createHash('sha256').update(source).digest('hex').slice(0, 12),
  );
  return generatorHash;
}

function runGenerator(args: string[]): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(python, [generator, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (text: string) => (stderr += text));
    child.on('error', (error: NodeJS.ErrnoException) => {
      const why =
        error.code === 'ENOENT'
          ? `${python} not found; the model generator needs it (apt-get install python3 python3-onnx python3-numpy)`
          : `could not start ${python} ${generator}: ${error.message}`;
      reject(new Error(why, { cause: error }));
    });
    child.on('close', (code, signal) => {
      if (code === 0) return resolvePromise();
      const detail = stderr.trim();
      if (code === missingPackageExit) {
        // generate.py's message names the missing package and the install command
        reject(new Error(`${python} cannot run the model generator: ${detail}`));
      } else {
        reject(
          new Error(
            `${python} ${generator} ${args.join(' ')} failed (${signal ?? `exit ${code}`}):\n${detail}`,
          ),
        );
      }
    });
  });
}

/**
 * Runs the generator once per cache file. generate.py writes to a per-process temporary name and renames,
 * so concurrent test workers racing on the same file each see either nothing or a whole file.
 */
async function cached(name: ModelName, suffix: string, flag: string[]): Promise<string> {
  const path = join(cacheDir, 'models', `${name}-${await hashGenerator()}${suffix}`);
  let job = pending.get(path);
  if (job === undefined) {
    job = (async () => {
      const present = await stat(path).then(
        () => true,
        () => false,
      );
      if (!present) {
        await mkdir(join(cacheDir, 'models'), { recursive: true });
        await runGenerator([name, ...flag, path]);
      }
      return path;
    })();
    pending.set(path, job);
    void job.catch(() => pending.delete(path));
  }
  return job;
}

/** Path of the generated model `name` (an .onnx file under `.cache/models/`), generating it on first use. */
export function modelPath(name: ModelName): Promise<string> {
  return cached(name, '.onnx', []);
}

/** Sample inputs and numpy-computed expected outputs for `name` (see `ModelReference`). */
export async function modelReference(name: ModelName): Promise<ModelReference> {
  const path = await cached(name, '.reference.json', ['--reference']);
  return JSON.parse(await readFile(path, 'utf8')) as ModelReference;
}
