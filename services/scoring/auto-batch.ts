import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { RecordBatch } from 'apache-arrow';
import { type BatchTuning, tuneBatchSize } from './batch-tuner.js';
import type { ResolvedInput } from './feature-mapping.js';
import { allocateTensor, fillFeatures } from './fill-features.js';
import type { HostTensor, InferenceHost, TensorData } from './inference-host.js';

/** Tuned batch sizes by (model digest, device, input layout), kept in a JSON file so restarts skip tuning. */
export interface TuningCache {
  get(key: string): Promise<BatchTuning | undefined>;
  set(key: string, tuning: BatchTuning): Promise<void>;
}

/** Each path's last `set` in this process (settled or not): sets to one file run one after another. */
const lastSets = new Map<string, Promise<void>>();

/**
 * A cache in one JSON file. A file that is missing or does not parse reads as empty (it is only a cache:
 * the next `set` replaces it). Sets in one process are serialized per path, so none is lost; each writes a
 * uniquely named temporary file and renames it into place, so processes sharing the file never interleave
 * their writes (at worst one process's entry is overwritten by another's and tuned again).
 */
export function fileTuningCache(path: string): TuningCache {
  const load = async (): Promise<Record<string, BatchTuning>> => {
    const text = await readFile(path, 'utf8').catch(() => undefined);
    if (text === undefined) return {};
    try {
      return JSON.parse(text) as Record<string, BatchTuning>;
    } catch {
      return {};
    }
  };
  const write = async (key: string, tuning: BatchTuning): Promise<void> => {
    const all = await load();
    all[key] = tuning;
    await mkdir(dirname(path), { recursive: true });
    const partial = `${path}.${randomUUID()}.partial`;
    try {
      await writeFile(partial, JSON.stringify(all, null, 2));
      await rename(partial, path);
    } finally {
      await rm(partial, { force: true });
    }
  };
  return {
    async get(key) {
      return (await load())[key];
    },
    set(key, tuning) {
      const done = (lastSets.get(path) ?? Promise.resolve()).then(() => write(key, tuning));
      lastSets.set(
        path,
        done.catch(() => undefined),
      );
      return done;
    },
  };
}

export function tuningKey(
  modelSha256: string,
  deviceLabel: string,
  inputs: readonly ResolvedInput[],
): string {
  return [modelSha256, deviceLabel, ...inputs.map((i) => `${i.input}:${i.type}:${i.width}`)].join('|');
}

export interface AutoBatchOptions {
  /** Rows of real data to probe with; batches larger than this repeat its rows. */
  sample: readonly RecordBatch[];
  cache?: TuningCache;
  key?: string;
  maxRows?: number;
  memoryBudgetBytes?: number;
  /** Seconds of inference per probe at least (default 0.25; at least 2 runs after a warm-up). */
  probeSeconds?: number;
}

/** Builds `rows` rows of each input from the sample, cycling through it; nulls read as 0 for probing. */
function sampleTensors(
  inputs: readonly ResolvedInput[],
  sample: readonly RecordBatch[],
  rows: number,
): TensorData[] {
  const probing = inputs.map((input) => ({ ...input, nulls: { fill: 0 } as const }));
  const tensors = probing.map((input) => allocateTensor(input.type, rows * input.width));
  let at = 0;
  while (at < rows) {
    for (const batch of sample) {
      if (at >= rows || batch.numRows === 0) continue;
      const take = Math.min(batch.numRows, rows - at);
      const slice = take === batch.numRows ? batch : batch.slice(0, take);
      probing.forEach((input, i) => fillFeatures(tensors[i]!, at, slice, input));
      at += take;
    }
  }
  return tensors;
}

/**
 * Rows per inference call for this model on this device, measured on real rows: the cached answer when
 * there is one, else a doubling search (see `tuneBatchSize`) whose result is cached.
 */
export async function autoBatchRows(
  host: InferenceHost,
  inputs: readonly ResolvedInput[],
  options: AutoBatchOptions,
): Promise<BatchTuning> {
  const cached = options.key ? await options.cache?.get(options.key) : undefined;
  if (cached) return cached;
  const sampleRows = options.sample.reduce((n, b) => n + b.numRows, 0);
  if (sampleRows === 0) throw new RangeError('auto batch tuning needs at least one sample row');
  const probeSeconds = options.probeSeconds ?? 0.25;
  const bytesPerRow =
    inputs.reduce((n, i) => n + i.width * 8, 0) +
    host.metadata.outputs.reduce(
      (n, o) => n + (o.isTensor && typeof o.shape[1] === 'number' ? o.shape[1] * 8 : 8),
      0,
    );

  const probe = async (rows: number): Promise<number> => {
    const tensors = sampleTensors(inputs, options.sample, rows);
    const feeds = (): Record<string, HostTensor> =>
      Object.fromEntries(
        inputs.map((input, i) => [
          input.input,
          // Each run transfers its buffers to the host, so every run gets its own copy.
          {
            type: input.type,
            data: tensors[i]!.slice(),
            dims: input.rank === 2 ? [rows, input.width] : [rows],
          },
        ]),
      );
    await host.run(feeds());
    let runs = 0;
    let seconds = 0;
    while (runs < 2 || seconds < probeSeconds) {
      const next = feeds();
      const started = performance.now();
      await host.run(next);
      seconds += (performance.now() - started) / 1000;
      runs++;
    }
    return (rows * runs) / seconds;
  };

  const tuning = await tuneBatchSize(probe, {
    bytesPerRow,
    maxRows: options.maxRows ?? 1 << 18,
    memoryBudgetBytes: options.memoryBudgetBytes,
  });
  if (options.key) await options.cache?.set(options.key, tuning);
  return tuning;
}
