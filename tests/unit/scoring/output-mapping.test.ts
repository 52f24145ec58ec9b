import { describe, expect, it } from 'vitest';
import { thrown } from '../../helpers/thrown.js';
import { FeatureMappingError } from '../../../services/scoring/errors/feature-mapping-error.js';
import type { HostTensor, ModelMetadata } from '../../../services/scoring/inference-host.js';
import { outputColumns, resolveOutputMapping } from '../../../services/scoring/output-mapping.js';

const meta: ModelMetadata = {
  inputs: [{ name: 'features', isTensor: true, type: 'float32', shape: ['N', 4] }],
  outputs: [
    { name: 'score', isTensor: true, type: 'float32', shape: ['N', 1] },
    { name: 'probabilities', isTensor: true, type: 'float32', shape: ['N', 3] },
    { name: 'label', isTensor: true, type: 'int64', shape: ['N'] },
  ],
};

const tensors: Record<string, HostTensor> = {
  score: { type: 'float32', data: new Float32Array([0.1, 0.2, 0.3]), dims: [3, 1] },
  probabilities: { type: 'float32', data: new Float32Array([1, 2, 3, 4, 5, 6, 7, 8, 9]), dims: [3, 3] },
  label: { type: 'int64', data: new BigInt64Array([2n, 0n, 1n]), dims: [3] },
};

const errorOf = (run: () => unknown): FeatureMappingError => thrown(FeatureMappingError, run);

describe('resolveOutputMapping and outputColumns', () => {
  it('defaults to one column per [N]/[N,1] output and a list column per [N,k] output', () => {
    const resolved = resolveOutputMapping(meta);
    expect(resolved.map((r) => [r.output, r.kind, r.names])).toEqual([
      ['score', 'column', ['score']],
      ['probabilities', 'list', ['probabilities']],
      ['label', 'column', ['label']],
    ]);
    const columns = outputColumns(tensors, resolved, 3);
    expect(columns.map((c) => [c.name, (c.data.type as { toString(): string }).toString()])).toEqual([
      ['score', 'Float32'],
      ['probabilities', 'FixedSizeList[3]<Float32>'],
      ['label', 'Int64'],
    ]);
    // [N,1] becomes a view on the tensor, not a copy.
    expect((columns[0]!.data.values as Float32Array).buffer).toBe(tensors.score!.data.buffer);
  });

  it('spreads [N,k] over k named columns and renames single columns', () => {
    const resolved = resolveOutputMapping(meta, {
      probabilities: { columns: ['p_a', 'p_b', 'p_c'] },
      score: { column: 'fraud_score' },
    });
    const columns = outputColumns(tensors, resolved, 3);
    expect(columns.map((c) => c.name)).toEqual(['p_a', 'p_b', 'p_c', 'fraud_score']);
    expect(Array.from(columns[1]!.data.values as Float32Array)).toEqual([2, 5, 8]);
  });

  it('keeps only the rows listed, in every output kind', () => {
    const resolved = resolveOutputMapping(meta, {
      probabilities: { listColumn: 'p' },
      label: { column: 'label' },
    });
    const columns = outputColumns(tensors, resolved, 3, new Int32Array([0, 2]));
    expect(columns[0]!.data.length).toBe(2);
    expect(Array.from(columns[0]!.data.children[0]!.values as Float32Array)).toEqual([1, 2, 3, 7, 8, 9]);
    expect(Array.from(columns[1]!.data.values as BigInt64Array)).toEqual([2n, 1n]);
  });

  it('refuses non-tensor outputs with the ZipMap hint, and mappings that do not fit the shape', () => {
    const zipmap: ModelMetadata = {
      inputs: meta.inputs,
      outputs: [
        { name: 'output_label', isTensor: true, type: 'int64', shape: ['N'] },
        { name: 'output_probability', isTensor: false },
      ],
    };
    const error = errorOf(() => resolveOutputMapping(zipmap));
    expect(error.code).toBe('MODEL_OUTPUT_UNSUPPORTED');
    expect(error.message).toContain('output_probability');
    expect(error.message).toContain('zipmap');
    // Mapping only the tensor output is fine.
    expect(resolveOutputMapping(zipmap, { output_label: { column: 'label' } })).toHaveLength(1);
    expect(errorOf(() => resolveOutputMapping(meta, { probabilities: { column: 'p' } })).where.output).toBe(
      'probabilities',
    );
    expect(errorOf(() => resolveOutputMapping(meta, { probabilities: { columns: ['a', 'b'] } })).code).toBe(
      'MODEL_OUTPUT_UNSUPPORTED',
    );
    expect(errorOf(() => resolveOutputMapping(meta, { nope: { column: 'x' } })).message).toContain('nope');
  });
});
