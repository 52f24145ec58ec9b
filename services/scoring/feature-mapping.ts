/**
 * Resolving a job's feature mapping against the data's schema and the model's inputs, so that a bad mapping
 * fails before any row is scored; fill-features.ts then fills the tensors as the resolved inputs say.
 */
import { DataType, type Field, type Schema } from 'apache-arrow';
import type { InputMapping, NullPolicy } from '../../schemas/model-spec.js';
import { FeatureMappingError } from './errors/feature-mapping-error.js';
import type { ModelMetadata, TensorElementType } from './inference-host.js';

/** Model input element types the mapper can fill from numeric and boolean columns. */
const fillableTypes = new Set<TensorElementType>(['float32', 'float64', 'int32', 'int64']);

/** One model input, resolved against the data's schema: which columns fill it, row-major, how wide. */
export interface ResolvedInput {
  input: string;
  type: 'float32' | 'float64' | 'int32' | 'int64';
  /** Features per row (the tensor is `[rows, width]`, or `[rows]` when `rank` is 1). */
  width: number;
  rank: 1 | 2;
  source: { kind: 'columns'; columns: string[] } | { kind: 'list'; column: string };
  nulls: NullPolicy;
  /**
   * For a list column the decoder packed from named columns: those names, so a null names the column
   * the user knows rather than the packed one.
   */
  packedFrom?: string[];
}

function isNumeric(type: DataType): boolean {
  return DataType.isInt(type) || DataType.isFloat(type) || DataType.isBool(type);
}

function describe(field: Field): string {
  return `${field.name} (${String(field.type)})`;
}

function fieldOf(schema: Schema, name: string, input: string): Field {
  const field = schema.fields.find((f) => f.name === name);
  if (!field) {
    throw new FeatureMappingError(
      'FEATURE_COLUMN_MISSING',
      `model input "${input}" needs column "${name}", which the data lacks (columns: ${schema.fields.map((f) => f.name).join(', ')})`,
      { input, column: name },
    );
  }
  return field;
}

function checkNumeric(field: Field, input: string): void {
  if (!isNumeric(field.type as DataType)) {
    throw new FeatureMappingError(
      'FEATURE_TYPE_UNSUPPORTED',
      `column ${describe(field)} cannot be cast to a number for model input "${input}"`,
      { input, column: field.name },
    );
  }
}

/** The declared width of a `[N, w]` input, undefined when symbolic; rank 1 inputs have width 1. */
function declaredShape(
  shape: Array<number | string>,
  input: string,
): { rank: 1 | 2; width: number | undefined } {
  if (shape.length === 1) return { rank: 1, width: 1 };
  if (shape.length === 2)
    return { rank: 2, width: typeof shape[1] === 'number' && shape[1] > 0 ? shape[1] : undefined };
  throw new FeatureMappingError(
    'FEATURE_WIDTH_MISMATCH',
    `model input "${input}" has shape [${shape.join(', ')}]; tabular scoring supports [N] and [N, features]`,
    { input },
  );
}

export interface ResolveOptions {
  /** Columns copied to the output as keys; never used as features by the default mapping. */
  passthrough?: readonly string[];
  /** Told how the default mapping was chosen, so users see it in the log. */
  log?: (message: string) => void;
}

/**
 * Resolves the job's input mappings against the data's schema and the model's declared inputs, failing
 * early (before any row is scored) on a missing column, a width mismatch or an uncastable type.
 *
 * Without mappings: a model input named like a list / fixed-size-list column takes that column; otherwise a
 * model with a single input takes every numeric column that is not passthrough, in schema order, when their
 * count equals the input's width — and says so through `log`.
 */
export function resolveFeatureMapping(
  schema: Schema,
  metadata: ModelMetadata,
  mappings: Record<string, InputMapping> | undefined,
  options: ResolveOptions = {},
): ResolvedInput[] {
  const inputs = metadata.inputs;
  for (const name of Object.keys(mappings ?? {})) {
    if (!inputs.some((i) => i.name === name)) {
      throw new FeatureMappingError(
        'FEATURE_INPUT_UNKNOWN',
        `the mapping names input "${name}", which the model lacks (inputs: ${inputs.map((i) => i.name).join(', ')})`,
        { input: name },
      );
    }
  }
  return inputs.map((info) => {
    if (!info.isTensor) {
      throw new FeatureMappingError(
        'FEATURE_TYPE_UNSUPPORTED',
        `model input "${info.name}" is not a tensor`,
        {
          input: info.name,
        },
      );
    }
    const type = info.type as TensorElementType;
    if (!fillableTypes.has(type)) {
      throw new FeatureMappingError(
        'FEATURE_TYPE_UNSUPPORTED',
        `model input "${info.name}" takes ${info.type}; Quiver fills float32, float64, int32 and int64 inputs`,
        { input: info.name },
      );
    }
    const { rank, width: declared } = declaredShape(info.shape, info.name);
    const mapping =
      mappings?.[info.name] ?? defaultMapping(schema, info.name, inputs.length, declared, options);
    const resolved = resolveOne(schema, info.name, mapping, rank);
    if (Number.isNaN(resolved.width)) {
      // A variable-length list column: its width comes from the model (rows are checked as they are read).
      if (declared === undefined) {
        throw new FeatureMappingError(
          'FEATURE_WIDTH_MISMATCH',
          `model input "${info.name}" has a symbolic width and is mapped from a variable-length list; use a fixed-size list or named columns`,
          { input: info.name },
        );
      }
      resolved.width = declared;
    }
    if (declared !== undefined && resolved.width !== declared) {
      throw new FeatureMappingError(
        'FEATURE_WIDTH_MISMATCH',
        `model input "${info.name}" takes ${declared} features per row; the mapping gives ${resolved.width}`,
        { input: info.name },
      );
    }
    return { ...resolved, input: info.name, type: type as ResolvedInput['type'], rank };
  });
}

function defaultMapping(
  schema: Schema,
  input: string,
  inputCount: number,
  width: number | undefined,
  options: ResolveOptions,
): InputMapping {
  const sameName = schema.fields.find((f) => f.name === input);
  if (sameName && (DataType.isList(sameName.type) || DataType.isFixedSizeList(sameName.type))) {
    options.log?.(`model input "${input}" ← list column "${input}" (default mapping)`);
    return { listColumn: input, nulls: 'fail' };
  }
  const passthrough = new Set(options.passthrough ?? []);
  const numeric = schema.fields
    .filter((f) => !passthrough.has(f.name) && isNumeric(f.type as DataType))
    .map((f) => f.name);
  if (inputCount === 1 && (width === undefined || numeric.length === width) && numeric.length > 0) {
    options.log?.(
      `model input "${input}" ← the ${numeric.length} numeric non-passthrough columns in schema order: ${numeric.join(', ')} (default mapping)`,
    );
    return { columns: numeric, nulls: 'fail' };
  }
  throw new FeatureMappingError(
    'FEATURE_MAPPING_AMBIGUOUS',
    inputCount === 1
      ? `model input "${input}" takes ${width} features but the data has ${numeric.length} numeric non-passthrough columns; map them with model.inputs.${input}`
      : `the model has ${inputCount} inputs; map each with model.inputs (missing: "${input}")`,
    { input },
  );
}

function resolveOne(
  schema: Schema,
  input: string,
  mapping: InputMapping,
  rank: 1 | 2,
): Pick<ResolvedInput, 'source' | 'width' | 'nulls'> {
  if ('listColumn' in mapping) {
    const field = fieldOf(schema, mapping.listColumn, input);
    const type = field.type as DataType;
    if (!DataType.isList(type) && !DataType.isFixedSizeList(type)) {
      throw new FeatureMappingError(
        'FEATURE_TYPE_UNSUPPORTED',
        `column ${describe(field)} is not a list column, as model input "${input}" is mapped`,
        { input, column: field.name },
      );
    }
    const child = (type.children[0] as Field).type as DataType;
    if (!isNumeric(child)) {
      throw new FeatureMappingError(
        'FEATURE_TYPE_UNSUPPORTED',
        `list column ${describe(field)} holds values that cannot be cast to numbers for model input "${input}"`,
        { input, column: field.name },
      );
    }
    // A variable-length list's width is only known per row; the builder checks each row against the model.
    const width = DataType.isFixedSizeList(type) ? type.listSize : Number.NaN;
    return { source: { kind: 'list', column: field.name }, width, nulls: mapping.nulls };
  }
  let columns: string[];
  if ('columns' in mapping) {
    columns = mapping.columns;
  } else {
    let pattern: RegExp;
    try {
      pattern = new RegExp(mapping.columnsMatching);
    } catch (error) {
      throw new FeatureMappingError(
        'FEATURE_MAPPING_AMBIGUOUS',
        `columnsMatching for model input "${input}" is not a valid regex: ${(error as Error).message}`,
        { input },
      );
    }
    columns = schema.fields.filter((f) => pattern.test(f.name)).map((f) => f.name);
    if (columns.length === 0) {
      throw new FeatureMappingError(
        'FEATURE_COLUMN_MISSING',
        `no column matches /${mapping.columnsMatching}/ for model input "${input}"`,
        {
          input,
        },
      );
    }
  }
  for (const name of columns) checkNumeric(fieldOf(schema, name, input), input);
  if (rank === 1 && columns.length !== 1) {
    throw new FeatureMappingError(
      'FEATURE_WIDTH_MISMATCH',
      `model input "${input}" takes one value per row; the mapping gives ${columns.length} columns`,
      {
        input,
      },
    );
  }
  return { source: { kind: 'columns', columns }, width: columns.length, nulls: mapping.nulls };
}
