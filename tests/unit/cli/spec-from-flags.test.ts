import { describe, expect, it } from 'vitest';
import { parseJobSpec } from '../../../schemas/job-spec.js';
import { UsageError } from '../../../services/cli/errors/usage-error.js';
import {
  hasSpecFlags,
  parseLabel,
  parseNullPolicy,
  specFromFlags,
  splitList,
} from '../../../services/cli/spec-from-flags.js';
import { thrown } from '../../helpers/thrown.js';

describe('job spec from flags', () => {
  it('builds a complete spec from the common flags', () => {
    const spec = specFromFlags(undefined, {
      name: 'fraud',
      input: 'file:///data/',
      format: 'csv',
      'no-header': true,
      model: 'file:///m.onnx',
      columns: 'f0, f1,f2',
      nulls: 'fill:0',
      'score-column': 'fraud_score',
      output: 'file:///out/',
      'output-format': 'jsonl',
      passthrough: 'event_id',
      'chunk-rows': '1000',
      'batch-rows': 'auto',
      'on-invalid-row': 'skip',
      'max-invalid-fraction': '0.01',
      priority: '2',
      label: ['team=risk', 'env:prod'],
    });
    expect(spec).toEqual({
      name: 'fraud',
      input: { uri: 'file:///data/', format: 'csv', header: false },
      model: {
        uri: 'file:///m.onnx',
        inputs: { features: { columns: ['f0', 'f1', 'f2'], nulls: { fill: 0 } } },
        outputs: { score: { column: 'fraud_score' } },
      },
      output: { uri: 'file:///out/', format: 'jsonl', passthrough: ['event_id'] },
      batch: { chunkRows: 1000, rows: 'auto' },
      errors: { onInvalidRow: 'skip', maxInvalidFraction: 0.01 },
      priority: 2,
      labels: { team: 'risk', env: 'prod' },
    });
    expect(() => parseJobSpec(spec)).not.toThrow();
  });

  it('takes --passthrough "*" as every column, not as a column named "*"', () => {
    expect(specFromFlags(undefined, { passthrough: '*' }).output).toEqual({ passthrough: '*' });
  });

  it('maps features by regex or list column into the named model input and output', () => {
    expect(
      specFromFlags(undefined, {
        regex: '^f\\d+$',
        'model-input': 'x',
        'score-column': 'p',
        'model-output': 'y',
      }).model,
    ).toEqual({ inputs: { x: { columnsMatching: '^f\\d+$' } }, outputs: { y: { column: 'p' } } });
    expect(specFromFlags(undefined, { 'list-column': 'embedding' }).model).toEqual({
      inputs: { features: { listColumn: 'embedding' } },
    });
  });

  it('writes flags over a spec file, leaving its other fields and the file object alone', () => {
    const file = {
      name: 'nightly',
      input: { uri: 's3://events/dt=2026-11-27/', format: 'parquet', glob: '*.parquet' },
      model: { uri: 's3://models/v3.onnx', inputs: { features: { columns: ['a'] } } },
      output: { uri: 's3://scores/' },
      labels: { team: 'risk' },
    };
    const before = structuredClone(file);
    const spec = specFromFlags(file, {
      input: 's3://events/dt=2026-11-28/',
      nulls: 'reject',
      label: ['day=28'],
    });
    expect(spec.input).toEqual({ uri: 's3://events/dt=2026-11-28/', format: 'parquet', glob: '*.parquet' });
    expect(spec.model).toEqual({
      uri: 's3://models/v3.onnx',
      inputs: { features: { columns: ['a'], nulls: 'reject' } },
    });
    expect(spec.labels).toEqual({ team: 'risk', day: '28' });
    expect(file).toEqual(before);
  });

  it('adds challengers that map as the champion does, and the report and quality gate fields', () => {
    const spec = specFromFlags(undefined, {
      input: 'file:///data/',
      format: 'parquet',
      model: 'file:///m-v1.onnx',
      columns: 'f0,f1',
      nulls: 'fill:0',
      'score-column': 'fraud_score',
      output: 'file:///out/',
      challenger: ['v2=file:///m-v2.onnx', 'tree=s3://models/tree.onnx'],
      'challenger-output': 'parts',
      'quality-baseline': 'previous',
      'max-psi': '0.25',
      'max-null-fraction': '0.05',
      'on-quality-violation': 'warn',
    });
    const mapped = {
      inputs: { features: { columns: ['f0', 'f1'], nulls: { fill: 0 } } },
      outputs: { score: { column: 'fraud_score' } },
    };
    expect(spec.challengers).toEqual([
      { name: 'v2', model: { uri: 'file:///m-v2.onnx', ...mapped } },
      { name: 'tree', model: { uri: 's3://models/tree.onnx', ...mapped } },
    ]);
    expect(spec.output).toEqual({ uri: 'file:///out/', challengers: 'parts' });
    expect(spec.quality).toEqual({
      baseline: 'previous',
      maxPsi: 0.25,
      maxNullFraction: 0.05,
      onViolation: 'warn',
    });
    const parsed = parseJobSpec(spec);
    expect(parsed.challengers?.map((c) => c.name)).toEqual(['v2', 'tree']);
    expect(specFromFlags(undefined, { 'no-report': true })).toEqual({ output: { report: false } });
  });

  it("points a spec file's challenger at another model, dropping the digest that pinned the old one", () => {
    const file = {
      model: { uri: 'file:///m.onnx' },
      challengers: [
        {
          name: 'v2',
          model: { uri: 'file:///old.onnx', sha256: 'a'.repeat(64), inputs: { x: { columns: ['c'] } } },
        },
      ],
    };
    const spec = specFromFlags(file, { challenger: ['v2=file:///new.onnx', 'v3=file:///v3.onnx'] });
    expect(spec.challengers).toEqual([
      { name: 'v2', model: { uri: 'file:///new.onnx', inputs: { x: { columns: ['c'] } } } },
      { name: 'v3', model: { uri: 'file:///v3.onnx' } },
    ]);
    expect(file.challengers[0]!.model.uri).toBe('file:///old.onnx');
  });

  it('refuses flags that do not parse, naming the flag', () => {
    const cases: Array<[Parameters<typeof specFromFlags>[1], RegExp]> = [
      [{ 'chunk-rows': 'many' }, /--chunk-rows: expected an integer/],
      [{ 'chunk-rows': '0' }, /--chunk-rows: expected an integer ≥ 1/],
      [{ 'batch-rows': '1.5' }, /--batch-rows/],
      [{ priority: '11' }, /--priority: expected an integer ≤ 10/],
      [{ 'max-invalid-fraction': '2' }, /--max-invalid-fraction/],
      [{ label: ['nokey'] }, /--label: expected key=value/],
      [{ columns: 'a', regex: 'b' }, /--columns, --regex: give one way/],
      [{ nulls: 'reject' }, /--nulls: applies to a feature mapping/],
      [{ columns: 'a', nulls: 'maybe' }, /--nulls: expected fail, reject or fill/],
      [{ challenger: ['file:///m.onnx'] }, /--challenger: expected NAME=URI/],
      [{ challenger: ['v2='] }, /--challenger: expected NAME=URI/],
      [{ 'max-psi': 'high' }, /--max-psi/],
      [{ 'max-null-fraction': '1.5' }, /--max-null-fraction/],
    ];
    for (const [flags, message] of cases) {
      const error = thrown(UsageError, () => specFromFlags(undefined, flags));
      expect(error.message).toMatch(message);
    }
  });

  it('leaves field checks to parseJobSpec, which names the path', () => {
    const spec = specFromFlags(undefined, { input: 'file:///d/', format: 'xlsx', model: 'file:///m.onnx' });
    expect(() => parseJobSpec(spec)).toThrow(/input\.format[\s\S]*output: required/);
  });

  it('splits lists, labels and null policies', () => {
    expect(splitList(' a, b,,c ')).toEqual(['a', 'b', 'c']);
    expect(parseLabel('--label', 'team=a:b')).toEqual(['team', 'a:b']);
    expect(parseLabel('--label', 'team:risk')).toEqual(['team', 'risk']);
    expect(parseLabel('--label', 'k=')).toEqual(['k', '']);
    expect(parseNullPolicy('fail')).toBe('fail');
    expect(parseNullPolicy('fill=-1.5')).toEqual({ fill: -1.5 });
    expect(hasSpecFlags({})).toBe(false);
    expect(hasSpecFlags({ input: 'x' })).toBe(true);
  });
});
