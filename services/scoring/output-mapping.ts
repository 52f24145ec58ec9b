import {
  Bool,
  type Data,
  type DataType,
  Field,
  FixedSizeList,
  Float32,
  Float64,
  Int8,
  Int16,
  Int32,
  Int64,
  Uint8,
  Uint16,
  Uint32,
  Uint64,
  makeData,
} from 'apache-arrow';
import type { OutputMapping } from '../../schemas/model-spec.js';
import { FeatureMappingError } from './errors/feature-mapping-error.js';
import type { HostTensor, ModelMetadata, TensorData } from './inference-host.js';

/** One model output and the columns it becomes. */
export interface ResolvedOutput {
  output: string;
  kind: 'column' | 'columns' | 'list';
  /** Column names: one for `column`/`list`, k for `columns`. */
  names: string[];
}

const arrowTypes: Record<string, () => DataType> = {
  float32: () => new Float32(),
  float64: () => new Float64(),
  int8: () => new Int8(),
  int16: () => new Int16(),
  int32: () => new Int32(),
  int64: () => new Int64(),
  uint8: () => new Uint8(),
  uint16: () => new Uint16(),
  uint32: () => new Uint32(),
  uint64: () => new Uint64(),
  bool: () => new Bool(),
};

function unsupported(output: string, why: string): FeatureMappingError {
  return new FeatureMappingError('MODEL_OUTPUT_UNSUPPORTED', `model output "${output}" ${why}`, { output });
}

const zipMapHint =
  'is not a tensor (a sequence of maps, as scikit-learn classifiers export through ZipMap); re-export the model with zipmap disabled, e.g. skl2onnx convert_sklearn(..., options={id(model): {"zipmap": False}})';

/**
 * Resolves where each model output goes. Without mappings every output becomes columns under its own name:
 * `[N]`/`[N,1]` one column, `[N,k]` one fixed-size-list column. Non-tensor outputs are refused (with the
 * ZipMap hint) when mapped, and when unmapped unless other outputs are mapped explicitly.
 */
export function resolveOutputMapping(
  metadata: ModelMetadata,
  mappings?: Record<string, OutputMapping>,
): ResolvedOutput[] {
  const byName = new Map(metadata.outputs.map((o) => [o.name, o]));
  for (const name of Object.keys(mappings ?? {})) {
    if (!byName.has(name)) {
      throw new FeatureMappingError(
        'MODEL_OUTPUT_UNSUPPORTED',
        `the mapping names output "${name}", which the model lacks (outputs: ${[...byName.keys()].join(', ')})`,
        { output: name },
      );
    }
  }
  const chosen = mappings ? Object.keys(mappings) : metadata.outputs.map((o) => o.name);
  return chosen.map((name) => {
    const info = byName.get(name)!;
    if (!info.isTensor) throw unsupported(name, zipMapHint);
    if (!(info.type in arrowTypes))
      throw unsupported(name, `has element type ${info.type}, which Quiver cannot write`);
    if (info.shape.length > 2)
      throw unsupported(name, `has shape [${info.shape.join(', ')}]; Quiver writes [N] and [N, k]`);
    const k = info.shape.length === 2 ? info.shape[1] : 1;
    const mapping = mappings?.[name];
    if (!mapping) {
      return k === 1
        ? { output: name, kind: 'column', names: [name] }
        : { output: name, kind: 'list', names: [name] };
    }
    if ('column' in mapping) {
      if (typeof k === 'number' && k !== 1) {
        throw new FeatureMappingError(
          'MODEL_OUTPUT_UNSUPPORTED',
          `model output "${name}" has ${k} values per row; map it with "columns" (${k} names) or "listColumn"`,
          { output: name },
        );
      }
      return { output: name, kind: 'column', names: [mapping.column] };
    }
    if ('columns' in mapping) {
      if (typeof k === 'number' && k !== mapping.columns.length) {
        throw new FeatureMappingError(
          'MODEL_OUTPUT_UNSUPPORTED',
          `model output "${name}" has ${k} values per row; the mapping names ${mapping.columns.length} columns`,
          { output: name },
        );
      }
      return { output: name, kind: 'columns', names: mapping.columns };
    }
    return { output: name, kind: 'list', names: [mapping.listColumn] };
  });
}

function packBits(bytes: ArrayLike<number>, length: number): Uint8Array {
  const bits = new Uint8Array(Math.ceil(length / 8));
  for (let i = 0; i < length; i++) if (bytes[i]) bits[i >> 3]! |= 1 << (i & 7);
  return bits;
}

function vectorData(tensor: HostTensor, values: TensorData, length: number): Data {
  const type = arrowTypes[tensor.type]!();
  if (tensor.type === 'bool')
    return makeData({ type: new Bool(), length, data: packBits(values as Uint8Array, length) });
  return makeData({ type, length, data: values } as never);
}

/** Rows `keep` (indices into the tensor's rows, ascending) or all rows, of column `j` of a `[rows, k]` tensor. */
function gather(
  values: TensorData,
  k: number,
  j: number,
  rows: number,
  keep: Int32Array | undefined,
): TensorData {
  const count = keep ? keep.length : rows;
  const Ctor = values.constructor as new (n: number) => TensorData;
  const out = new Ctor(count) as unknown as { [i: number]: number | bigint };
  const src = values as unknown as { [i: number]: number | bigint };
  for (let i = 0; i < count; i++) out[i] = src[(keep ? keep[i]! : i) * k + j]!;
  return out as unknown as TensorData;
}

/**
 * Turns one inference call's outputs into Arrow column data for the output batch, in mapping order. Rows
 * whose features were rejected are left out when `keep` lists the rows to keep. Without `keep`, `[N]`
 * and `[N,1]` outputs and list columns are views on the tensor's memory (no copy).
 */
export function outputColumns(
  tensors: Record<string, HostTensor>,
  outputs: readonly ResolvedOutput[],
  rows: number,
  keep?: Int32Array,
): Array<{ name: string; data: Data }> {
  const count = keep ? keep.length : rows;
  const columns: Array<{ name: string; data: Data }> = [];
  for (const resolved of outputs) {
    const tensor = tensors[resolved.output];
    if (!tensor) throw unsupported(resolved.output, 'was not produced by the run');
    const k = tensor.dims.length === 2 ? tensor.dims[1]! : 1;
    if (tensor.dims[0] !== rows)
      throw unsupported(resolved.output, `has ${tensor.dims[0]} rows for ${rows} inputs`);
    if (resolved.kind === 'columns' && k !== resolved.names.length) {
      throw unsupported(
        resolved.output,
        `has ${k} values per row; the mapping names ${resolved.names.length} columns`,
      );
    }
    if (resolved.kind === 'column' && k !== 1)
      throw unsupported(resolved.output, `has ${k} values per row, mapped to one column`);
    if (resolved.kind === 'list') {
      const flat =
        keep || k === 1 ? gatherRows(tensor.data, k, rows, keep) : tensor.data.subarray(0, rows * k);
      const child = vectorData(tensor, flat, count * k);
      const type = new FixedSizeList(k, new Field('item', child.type, false));
      columns.push({ name: resolved.names[0]!, data: makeData({ type, length: count, child }) });
      continue;
    }
    resolved.names.forEach((name, j) => {
      const values = k === 1 && !keep ? tensor.data.subarray(0, rows) : gather(tensor.data, k, j, rows, keep);
      columns.push({ name, data: vectorData(tensor, values, count) });
    });
  }
  return columns;
}

/** Whole rows (k values each) at `keep`, row-major. */
function gatherRows(values: TensorData, k: number, rows: number, keep: Int32Array | undefined): TensorData {
  if (!keep) return values.subarray(0, rows * k);
  const Ctor = values.constructor as new (n: number) => TensorData;
  const out = new Ctor(keep.length * k);
  for (let i = 0; i < keep.length; i++) {
    (out as Float32Array).set((values as Float32Array).subarray(keep[i]! * k, keep[i]! * k + k), i * k);
  }
  return out;
}
