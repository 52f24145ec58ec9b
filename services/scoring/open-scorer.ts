import type { RecordBatch, Schema } from 'apache-arrow';
import type { BatchSpec, ModelSpec } from '../../schemas/model-spec.js';
import type { Storage } from '../../jobs/ports/storage.js';
import { type TuningCache, autoBatchRows, tuningKey } from './auto-batch.js';
import type { BatchTuning } from './batch-tuner.js';
import type { DeviceRequest } from './devices.js';
import { ModelLoadError } from './errors/model-load-error.js';
import { type ResolvedInput, resolveFeatureMapping } from './feature-mapping.js';
import { type CachedModel, fetchModel } from './model-store.js';
import { type ResolvedOutput, resolveOutputMapping } from './output-mapping.js';
import { type EngineChallenger, type ScoringEngine, makeScoringEngine } from './scoring-engine.js';
import { type AgreementPair, featureSources, makeBatchStats } from './batch-stats.js';
import { forChallenger } from '../../jobs/for-challenger.js';
import { type WorkerInferenceHost, makeWorkerInferenceHost } from './worker-inference-host.js';

export interface OpenModelOptions {
  /** Content-addressed local model cache. */
  cacheDir: string;
  /** Largest model fetched (default 2 GiB); a larger one is `MODEL_TOO_LARGE` (see `fetchModel`). */
  maxModelBytes?: number;
  /** Default: the CPU. */
  device?: DeviceRequest;
  intraOpThreads?: number;
  log?: (message: string) => void;
  signal?: AbortSignal;
}

export interface OpenedModel {
  model: CachedModel;
  host: WorkerInferenceHost;
}

/**
 * Fetches and verifies the model, then loads it into one session on a worker thread: one per process
 * (or per device), created once and reused for every chunk.
 */
export async function openModel(
  storage: Storage,
  spec: ModelSpec,
  options: OpenModelOptions,
): Promise<OpenedModel> {
  const model = await fetchModel(storage, spec.uri, {
    cacheDir: options.cacheDir,
    maxModelBytes: options.maxModelBytes,
    sha256: spec.sha256,
    signal: options.signal,
  });
  return loadModel(model, options);
}

/** Loads a model already in the local cache into one session on a worker thread. */
export async function loadModel(
  model: CachedModel,
  options: Pick<OpenModelOptions, 'device' | 'intraOpThreads' | 'log'>,
): Promise<OpenedModel> {
  let host: WorkerInferenceHost;
  try {
    host = await makeWorkerInferenceHost({
      modelPath: model.path,
      device: options.device,
      intraOpThreads: options.intraOpThreads,
    });
  } catch (error) {
    // Users know the model by its URI, not by its cache file.
    if (error instanceof ModelLoadError) throw new ModelLoadError(error.code, model.uri, error.detail);
    throw error;
  }
  if (host.warning) options.log?.(host.warning);
  return { model, host };
}

export interface PrepareScoringOptions {
  /** Schema of the data to score (the first batch's). */
  schema: Schema;
  model: ModelSpec;
  passthrough: string[];
  /** Columns the default feature mapping never takes (default: `passthrough`). */
  keyColumns?: string[];
  batch: BatchSpec;
  /** Real rows for auto batch tuning (the first rows of the first chunk). */
  sample: readonly RecordBatch[];
  tuningCache?: TuningCache;
  /** Inputs whose mapping reads a list column the decoder packed: input name → the original column names. */
  packed?: Record<string, string[]>;
  /** Upper bound for auto tuning (default 65,536 rows on the CPU, 262,144 on a GPU). */
  maxBatchRows?: number;
  log?: (message: string) => void;
  /** Models scored beside this one on the same rows, each with its mapping (packed as `packed` says). */
  challengers?: readonly PreparedChallengerInput[];
  /** Gather the run report's statistics as calls finish. */
  collectStats?: boolean;
}

export interface PreparedChallengerInput {
  name: string;
  opened: OpenedModel;
  model: ModelSpec;
  packed?: Record<string, string[]>;
  threshold?: number;
}

export interface PreparedScoring {
  engine: ScoringEngine;
  inputs: ResolvedInput[];
  outputs: ResolvedOutput[];
  /** Each challenger's resolved mappings, in spec order. */
  challengers: EngineChallenger[];
  batchRows: number;
  /** Present when the batch size was tuned (or read from the tuning cache). */
  tuning?: BatchTuning;
}

/**
 * Resolves the job's mappings against the data and the model (failing before any row is scored), chooses
 * the batch size (fixed, or tuned on real rows and cached per model digest and device) and builds the
 * engine.
 */
export async function prepareScoring(
  opened: OpenedModel,
  options: PrepareScoringOptions,
): Promise<PreparedScoring> {
  const { host, model } = opened;
  const inputs = resolveFeatureMapping(options.schema, host.metadata, options.model.inputs, {
    passthrough: options.keyColumns ?? options.passthrough,
    log: options.log,
  });
  for (const input of inputs) {
    const from = options.packed?.[input.input];
    if (from) input.packedFrom = from;
  }
  const outputs = resolveOutputMapping(host.metadata, options.model.outputs);
  const challengers = (options.challengers ?? []).map((c) => resolveChallenger(c, options));
  let batchRows: number;
  let tuning: BatchTuning | undefined;
  if (options.batch.rows === 'auto') {
    tuning = await autoBatchRows(host, inputs, {
      sample: options.sample,
      cache: options.tuningCache,
      key: tuningKey(model.sha256, host.device.label, inputs),
      // CPUs plateau by a few thousand rows (DESIGN: 3.5 M rows/s at 4,096); GPUs want far larger batches.
      maxRows: options.maxBatchRows ?? (host.device.provider === 'cpu' ? 1 << 16 : 1 << 18),
    });
    batchRows = tuning.rows;
    options.log?.(
      `batch size ${batchRows} rows on ${host.device.label} (auto: ${Math.round(tuning.rowsPerSec)} rows/s, ${tuning.stoppedBy})`,
    );
  } else {
    batchRows = options.batch.rows;
  }
  const stats = options.collectStats
    ? makeBatchStats({
        features: featureSources([...inputs, ...challengers.flatMap((c) => c.inputs)]),
        scores: [
          ...outputs.flatMap((o) => o.names),
          ...challengers.flatMap((c) => c.outputs.flatMap((o) => o.names.map((n) => `${c.name}.${n}`))),
        ],
        agreement: challengers.flatMap((c, k) =>
          agreementPairs(outputs, c, options.challengers![k]!.threshold),
        ),
      })
    : undefined;
  const engine = makeScoringEngine({
    host,
    inputs,
    outputs,
    passthrough: options.passthrough,
    batchRows,
    ...(challengers.length > 0 ? { challengers } : {}),
    ...(stats ? { stats } : {}),
  });
  return { engine, inputs, outputs, challengers, batchRows, tuning };
}

/** A challenger's mappings on the same data; a mapping it cannot make names it. */
function resolveChallenger(
  challenger: PreparedChallengerInput,
  options: PrepareScoringOptions,
): EngineChallenger {
  const metadata = challenger.opened.host.metadata;
  try {
    const inputs = resolveFeatureMapping(options.schema, metadata, challenger.model.inputs, {
      passthrough: options.keyColumns ?? options.passthrough,
    });
    for (const input of inputs) {
      const from = challenger.packed?.[input.input];
      if (from) input.packedFrom = from;
    }
    const outputs = resolveOutputMapping(metadata, challenger.model.outputs);
    return { name: challenger.name, host: challenger.opened.host, inputs, outputs };
  } catch (error) {
    throw forChallenger(error, challenger.name);
  }
}

/** The champion's one-value-a-row output columns that the challenger also writes, compared row by row. */
function agreementPairs(
  champion: readonly ResolvedOutput[],
  challenger: EngineChallenger,
  threshold = 0.5,
): AgreementPair[] {
  const scalar = (outputs: readonly ResolvedOutput[]) =>
    new Set(outputs.filter((o) => o.kind !== 'list').flatMap((o) => o.names));
  const theirs = scalar(challenger.outputs);
  return [...scalar(champion)]
    .filter((name) => theirs.has(name))
    .map((column) => ({
      challenger: challenger.name,
      column,
      championColumn: column,
      challengerColumn: `${challenger.name}.${column}`,
      threshold,
    }));
}
