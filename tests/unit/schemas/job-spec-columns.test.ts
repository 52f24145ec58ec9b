import { describe, expect, it } from 'vitest';
import { specProblems as problems } from '../../helpers/spec-problems.js';
import { canonicalJson, parseJobSpec, specDigest, type JobSpecInput } from '../../../schemas/job-spec.js';

const base: JobSpecInput = {
  input: { uri: 's3://events/', format: 'parquet' },
  model: { uri: 's3://models/fraud/v3.onnx' },
  output: { uri: 's3://scores/fraud/', passthrough: ['event_id'] },
};

describe('output.passthrough "*", output.exclude, input.hivePartitioning', () => {
  it('accepts "*" with exclude, and hivePartitioning, keeping what they say', () => {
    const spec = parseJobSpec({
      ...base,
      input: { ...base.input, hivePartitioning: true },
      output: { uri: 's3://scores/', passthrough: '*', exclude: ['ssn', 'email'] },
    });
    expect(spec.output.passthrough).toBe('*');
    expect(spec.output.exclude).toEqual(['ssn', 'email']);
    expect(spec.input.hivePartitioning).toBe(true);
  });

  it('leaves a spec that does not use them as it was: no new keys, so the same digest as before', () => {
    const spec = parseJobSpec(base);
    expect(Object.keys(spec.output).sort()).toEqual(['format', 'passthrough', 'uri']);
    expect(Object.keys(spec.input).sort()).toEqual(['format', 'header', 'uri']);
    // The digest of the same spec as the releases before these fields wrote it (defaults filled in).
    const before = {
      ...spec,
      input: { uri: 's3://events/', format: 'parquet', header: true },
      output: { uri: 's3://scores/fraud/', format: 'parquet', passthrough: ['event_id'] },
    };
    expect(canonicalJson(spec)).toBe(canonicalJson(before));
    expect(specDigest(spec)).toBe(specDigest(before as typeof spec));
  });

  it('refuses any other passthrough string, and exclude without "*", at their paths', () => {
    expect(problems({ ...base, output: { uri: 's3://o/', passthrough: 'all' } })).toEqual([
      expect.stringMatching(/^output\.passthrough: /),
    ]);
    expect(problems({ ...base, output: { uri: 's3://o/', passthrough: ['id'], exclude: ['x'] } })).toEqual([
      'output.exclude: exclude needs passthrough: "*"',
    ]);
    expect(problems({ ...base, output: { uri: 's3://o/', exclude: ['x'] } })).toEqual([
      'output.exclude: exclude needs passthrough: "*"',
    ]);
    expect(problems({ ...base, output: { uri: 's3://o/', passthrough: '*', exclude: ['a', ''] } })).toEqual([
      expect.stringMatching(/^output\.exclude\[1\]: /),
    ]);
    expect(problems({ ...base, input: { ...base.input, hivePartitioning: 'yes' } })).toEqual([
      expect.stringMatching(/^input\.hivePartitioning: /),
    ]);
  });

  it('holds exclude to the column-list limit, and "*" to none', () => {
    const many = Array.from({ length: 1_001 }, (_, i) => `c${i}`);
    expect(problems({ ...base, output: { uri: 's3://o/', passthrough: '*', exclude: many } })).toEqual([
      'output.exclude: 1001 columns, over the limit of 1000',
    ]);
    expect(parseJobSpec({ ...base, output: { uri: 's3://o/', passthrough: '*' } }).output.passthrough).toBe(
      '*',
    );
  });
});
