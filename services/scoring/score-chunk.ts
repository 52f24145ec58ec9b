import type { RecordBatch } from 'apache-arrow';
import type { ScoreChunkRequest } from '../../jobs/ports/chunk-scorer.js';
import type { ReadProjection } from '../../jobs/ports/input-readers.js';
import type { ModelSpec } from '../../schemas/model-spec.js';
import { passthroughColumns, passthroughReadColumns } from '../../jobs/score/passthrough-columns.js';
import { BadDataError } from '../formats/errors/bad-data-error.js';
import type { TuningCache } from './auto-batch.js';
import { FeatureMappingError } from './errors/feature-mapping-error.js';
import type { ModelMetadata } from './inference-host.js';
import { type OpenedModel, prepareScoring } from './open-scorer.js';
import type { ScoredBatch } from './scoring-engine.js';

/** How a chunk's features reach the model: what the decoder reads and packs, and the mapping that follows. */
export interface FeaturePlan {
  read: ReadProjection;
  model: ModelSpec;
  /** Inputs whose mapping reads a list column the decoder packed: input name → the original column names. */
  packed: Record<string, string[]>;
}

/**
 * For Parquet input whose model inputs are all mapped from named columns into float32 tensors, the decoder
 * reads only the passthrough columns (`passthrough`; undefined: every column) and packs each input's columns
 * into one row-major float32 array column (DuckDB does the transposition in native code, off the JavaScript
 * thread); the engine then copies rows straight into its tensors. Measured on the tabular MLP: see README
 * (bench:score --layout packed). Undefined: the rows are read whole and mapped column by column, as they
 * are when a mapping names a Hive partition column (`hiveColumns`: not in the file, DuckDB cannot pack it).
 */
export function packFeatures(
  format: ScoreChunkRequest['format'],
  passthrough: string[] | undefined,
  model: ModelSpec,
  metadata: ModelMetadata,
  hiveColumns: readonly string[] = [],
): FeaturePlan | undefined {
  if (format !== 'parquet' || !model.inputs) return undefined;
  const entries = Object.entries(model.inputs);
  const float32 = (name: string) =>
    metadata.inputs.some((i) => i.name === name && i.isTensor && i.type === 'float32');
  if (entries.length !== metadata.inputs.length) return undefined;
  if (!entries.every(([name, mapping]) => 'columns' in mapping && float32(name))) return undefined;
  const fromPath = (mapping: (typeof entries)[number][1]) =>
    'columns' in mapping && mapping.columns.some((c) => hiveColumns.includes(c));
  if (entries.some(([, mapping]) => fromPath(mapping))) return undefined;
  const pack: Array<{ name: string; columns: string[] }> = [];
  const packed: Record<string, string[]> = {};
  const inputs: NonNullable<ModelSpec['inputs']> = {};
  entries.forEach(([name, mapping], i) => {
    const columns = (mapping as { columns: string[] }).columns;
    const column = `__quiver_input_${i}`;
    pack.push({ name: column, columns });
    packed[name] = columns;
    inputs[name] = { listColumn: column, nulls: mapping.nulls };
  });
  return {
    read: passthrough === undefined ? { pack } : { columns: passthrough, pack },
    model: { ...model, inputs },
    packed,
  };
}

/**
 * A column missing from a packed read is the mapping's problem, not the file's: it is reported as the
 * mapper reports it (FEATURE_COLUMN_MISSING naming the model input), whichever path read the features.
 */
async function* missingAsMappingErrors(
  batches: AsyncIterable<RecordBatch>,
  packed: Record<string, string[]>,
): AsyncGenerator<RecordBatch> {
  try {
    yield* batches;
  } catch (error) {
    const column = error instanceof BadDataError ? error.location.column : undefined;
    const input = Object.keys(packed).find((name) => column !== undefined && packed[name]!.includes(column));
    if (!(error instanceof BadDataError) || error.code !== 'SCHEMA_MISMATCH' || input === undefined)
      throw error;
    const missing = new FeatureMappingError(
      'FEATURE_COLUMN_MISSING',
      `model input "${input}" needs column "${column}", which ${error.location.uri} lacks`,
      { input, column },
    );
    missing.location = { ...missing.location, uri: error.location.uri };
    throw missing;
  }
}

/**
 * Scores one chunk with an open model: chooses how its features are read (packed in the decoder when the
 * model allows), resolves the mapping on the first batch (failing before any row is scored), tunes or
 * takes the batch size, and yields every scored call in order. A mapping error about a row carries the
 * row's object and its row there (`request.locate`).
 */
export async function* scoreChunk(
  opened: OpenedModel,
  model: ModelSpec,
  request: ScoreChunkRequest,
  tuningCache?: TuningCache,
): AsyncGenerator<ScoredBatch> {
  const plan = packFeatures(
    request.format,
    passthroughReadColumns(request),
    model,
    opened.host.metadata,
    request.hiveColumns,
  );
  if (plan && request.logFeaturePlan)
    request.log.info({ inputs: Object.keys(plan.packed) }, 'features packed in the decoder');
  const read = request.read(plan?.read) as AsyncIterable<RecordBatch>;
  const batches = (plan ? missingAsMappingErrors(read, plan.packed) : read)[Symbol.asyncIterator]();
  const first = await batches.next();
  if (first.done) return;
  // The decoded columns, as the input has them (the packed feature columns are the decoder's own).
  const packedNames = new Set(plan?.read.pack?.map((p) => p.name));
  const decoded = first.value.schema.fields.map((f) => f.name).filter((name) => !packedNames.has(name));
  const passthrough = passthroughColumns(request, decoded, request.locate(0)?.uri);
  const prepared = await prepareScoring(opened, {
    schema: first.value.schema,
    model: plan?.model ?? model,
    passthrough,
    // Keys the default mapping leaves out: the named passthrough (with "*", none: every column passes
    // through) and the partition columns, which come from paths rather than the rows.
    keyColumns: [...(request.passthrough === '*' ? [] : passthrough), ...(request.hiveColumns ?? [])],
    batch: request.batch,
    sample: [first.value],
    tuningCache,
    ...(plan ? { packed: plan.packed } : {}),
    log: (message) => request.log.info({}, message),
  });
  const all = (async function* () {
    yield first.value;
    for (let next = await batches.next(); !next.done; next = await batches.next()) yield next.value;
  })();
  try {
    yield* prepared.engine.score(all, request.signal);
  } catch (error) {
    if (error instanceof FeatureMappingError && error.where.row !== undefined) {
      const location = request.locate(error.where.row);
      if (location) error.location = { ...error.location, ...location };
    }
    throw error;
  }
}
