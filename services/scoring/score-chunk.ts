import type { RecordBatch } from 'apache-arrow';
import type { OutputColumnOwners, ScoreChunkRequest, ScorerLease } from '../../jobs/ports/chunk-scorer.js';
import type { ReadProjection } from '../../jobs/ports/input-readers.js';
import type { ModelSpec } from '../../schemas/model-spec.js';
import { passthroughColumns, passthroughReadColumns } from '../../jobs/score/passthrough-columns.js';
import { BadDataError } from '../formats/errors/bad-data-error.js';
import type { TuningCache } from './auto-batch.js';
import { FeatureMappingError } from './errors/feature-mapping-error.js';
import type { ModelMetadata } from './inference-host.js';
import { type OpenedModel, type PreparedChallengerInput, prepareScoring } from './open-scorer.js';
import { forChallenger } from '../../jobs/for-challenger.js';
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
 * One read for the champion and its challengers: each model's packing as {@link packFeatures} makes it, a
 * list of columns packed once however many models read it (so the engine sees one layout and maps it
 * once). Undefined unless every model can have its features packed.
 */
export function packFeaturesForAll(
  format: ScoreChunkRequest['format'],
  passthrough: string[] | undefined,
  models: ReadonlyArray<{ model: ModelSpec; metadata: ModelMetadata }>,
  hiveColumns: readonly string[] = [],
): { read: ReadProjection; models: FeaturePlan[] } | undefined {
  const plans = models.map((m) => packFeatures(format, passthrough, m.model, m.metadata, hiveColumns));
  if (plans.some((plan) => plan === undefined)) return undefined;
  const packs = new Map<string, { name: string; columns: string[] }>();
  const combined = (plans as FeaturePlan[]).map((plan) => {
    const rename = new Map<string, string>();
    for (const pack of plan.read.pack ?? []) {
      const key = JSON.stringify(pack.columns);
      let shared = packs.get(key);
      if (!shared) packs.set(key, (shared = { name: `__quiver_input_${packs.size}`, columns: pack.columns }));
      rename.set(pack.name, shared.name);
    }
    const inputs = Object.fromEntries(
      Object.entries(plan.model.inputs ?? {}).map(([name, mapping]) => [
        name,
        'listColumn' in mapping ? { ...mapping, listColumn: rename.get(mapping.listColumn)! } : mapping,
      ]),
    );
    return { ...plan, model: { ...plan.model, inputs } };
  });
  const pack = [...packs.values()];
  return {
    read: passthrough === undefined ? { pack } : { columns: passthrough, pack },
    models: combined,
  };
}

/** The open model behind a lease of the worker's own scorer pool (challengers are leased there too). */
function openedOf(lease: ScorerLease): OpenedModel {
  if (!('host' in lease) || !('model' in lease))
    throw new TypeError('a challenger lease must come from the same scorer pool as the champion');
  return lease as unknown as OpenedModel;
}

/**
 * A column missing from a packed read is the mapping's problem, not the file's: it is reported as the
 * mapper reports it (FEATURE_COLUMN_MISSING naming the model input), whichever path read the features.
 */
async function* missingAsMappingErrors(
  batches: AsyncIterable<RecordBatch>,
  models: ReadonlyArray<{ challenger?: string; packed: Record<string, string[]> }>,
): AsyncGenerator<RecordBatch> {
  try {
    yield* batches;
  } catch (error) {
    const column = error instanceof BadDataError ? error.location.column : undefined;
    // The champion's input if it reads the column, else the first challenger's that does.
    const owner = models.find(({ packed }) =>
      Object.values(packed).some((columns) => column !== undefined && columns.includes(column)),
    );
    const packed = owner?.packed ?? {};
    const input = Object.keys(packed).find((name) => column !== undefined && packed[name]!.includes(column));
    if (!(error instanceof BadDataError) || error.code !== 'SCHEMA_MISMATCH' || input === undefined)
      throw error;
    const missing = new FeatureMappingError(
      'FEATURE_COLUMN_MISSING',
      `model input "${input}" needs column "${column}", which ${error.location.uri} lacks`,
      { input, column },
    );
    missing.location = { ...missing.location, uri: error.location.uri };
    throw owner?.challenger === undefined ? missing : forChallenger(missing, owner.challenger);
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
  const challengers = (request.challengers ?? []).map((c) => ({ ...c, opened: openedOf(c.lease) }));
  const packing = packFeaturesForAll(
    request.format,
    passthroughReadColumns(request),
    [
      { model, metadata: opened.host.metadata },
      ...challengers.map((c) => ({ model: c.model, metadata: c.opened.host.metadata })),
    ],
    request.hiveColumns,
  );
  const plan: FeaturePlan | undefined = packing && {
    ...packing.models[0]!,
    read: packing.read,
    packed: Object.assign({}, ...packing.models.map((m) => m.packed)) as Record<string, string[]>,
  };
  if (plan && request.logFeaturePlan)
    request.log.info({ inputs: Object.keys(plan.packed) }, 'features packed in the decoder');
  const read = request.read(plan?.read) as AsyncIterable<RecordBatch>;
  const owners = (packing?.models ?? []).map((m, k) => ({
    ...(k > 0 ? { challenger: challengers[k - 1]!.name } : {}),
    packed: m.packed,
  }));
  const batches = (plan ? missingAsMappingErrors(read, owners) : read)[Symbol.asyncIterator]();
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
    ...(plan ? { packed: packing!.models[0]!.packed } : {}),
    log: (message) => request.log.info({}, message),
    challengers: challengers.map((c, k): PreparedChallengerInput => ({
      name: c.name,
      opened: c.opened,
      model: packing?.models[k + 1]?.model ?? c.model,
      ...(packing ? { packed: packing.models[k + 1]!.packed } : {}),
      ...(c.threshold === undefined ? {} : { threshold: c.threshold }),
    })),
    ...(request.collectStats ? { collectStats: true } : {}),
  });
  const all = (async function* () {
    yield first.value;
    for (let next = await batches.next(); !next.done; next = await batches.next()) yield next.value;
  })();
  const columns: OutputColumnOwners = {
    passthrough,
    champion: prepared.outputs.flatMap((o) => o.names),
    challengers: prepared.challengers.map((c) => {
      const names = c.outputs.flatMap((o) => o.names);
      return { name: c.name, columns: names.map((n) => `${c.name}.${n}`), names };
    }),
  };
  try {
    for await (const scored of prepared.engine.score(all, request.signal)) {
      scored.columns = columns;
      yield scored;
    }
  } catch (error) {
    if (error instanceof FeatureMappingError && error.where.row !== undefined) {
      const location = request.locate(error.where.row);
      if (location) error.location = { ...error.location, ...location };
    }
    throw error;
  }
}
