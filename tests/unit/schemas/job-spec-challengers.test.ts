import { describe, expect, it } from 'vitest';
import { specProblems as problems } from '../../helpers/spec-problems.js';
import { type JobSpecInput, parseJobSpec } from '../../../schemas/job-spec.js';

const base: JobSpecInput = {
  input: { uri: 's3://events/', format: 'parquet' },
  model: { uri: 's3://models/fraud/v3.onnx' },
  challengers: [{ name: 'v4', model: { uri: 's3://models/fraud/v4.onnx' } }],
  output: { uri: 's3://scores/fraud/', passthrough: ['event_id'] },
};

/** `challengers`, `output.challengers` and `quality`: what a spec may say, and each refusal at its path. */
describe('challenger and quality fields of a job spec', () => {
  it('accepts both output layouts of challengers, and leaves the layout unset when not given', () => {
    expect(parseJobSpec(base).output.challengers).toBeUndefined();
    for (const layout of ['columns', 'parts'] as const)
      expect(
        parseJobSpec({ ...base, output: { ...base.output, challengers: layout } }).output.challengers,
      ).toBe(layout);
    expect(problems({ ...base, output: { ...base.output, challengers: 'files' } })).toEqual([
      expect.stringMatching(/^output\.challengers: /),
    ]);
  });

  it('refuses a challenger named like the champion or twice, and more than four', () => {
    expect(
      problems({ ...base, challengers: [{ name: 'champion', model: { uri: 's3://m/x.onnx' } }] }),
    ).toEqual(['challengers[0].name: "champion" names the champion']);
    expect(
      problems({
        ...base,
        challengers: [
          { name: 'a', model: { uri: 's3://m/a.onnx' } },
          { name: 'a', model: { uri: 's3://m/b.onnx' } },
        ],
      }),
    ).toEqual(['challengers[1].name: "a" is named twice']);
    const five = ['a', 'b', 'c', 'd', 'e'].map((name) => ({ name, model: { uri: `s3://m/${name}.onnx` } }));
    expect(problems({ ...base, challengers: five })).toEqual([expect.stringMatching(/^challengers: /)]);
  });

  it('refuses output.challengers without challengers, and "parts" partitioned by the model folder key', () => {
    const { challengers: _, ...alone } = base;
    expect(problems({ ...alone, output: { ...base.output, challengers: 'columns' } })).toEqual([
      'output.challengers: needs challengers',
    ]);
    expect(
      problems({
        ...base,
        output: {
          ...base.output,
          passthrough: ['event_id', 'model'],
          partitionBy: ['model'],
          challengers: 'parts',
        },
      }),
    ).toEqual([expect.stringMatching(/^output\.partitionBy: "model" names the model folders/)]);
    // Partitioned by another column, "parts" nests the partition folders in each model's.
    const spec = parseJobSpec({
      ...base,
      output: { ...base.output, passthrough: ['event_id', 'dt'], partitionBy: ['dt'], challengers: 'parts' },
    });
    expect(spec.output.partitionBy).toEqual(['dt']);
  });

  it('refuses gates without a limit, PSI without a baseline, and gates without the report', () => {
    expect(problems({ ...base, quality: { onViolation: 'fail' } })).toEqual([
      'quality: needs maxPsi or maxNullFraction',
    ]);
    expect(problems({ ...base, quality: { maxPsi: 0.2, onViolation: 'warn' } })).toEqual([
      'quality.baseline: maxPsi needs a baseline (a report URI or "previous")',
    ]);
    expect(
      problems({
        ...base,
        output: { ...base.output, report: false },
        quality: { maxNullFraction: 0.1, onViolation: 'fail' },
      }),
    ).toEqual(['quality: quality gates need the run report (output.report is false)']);
    expect(
      parseJobSpec({ ...base, quality: { baseline: 'previous', maxPsi: 0.2, onViolation: 'fail' } }).quality,
    ).toEqual({ baseline: 'previous', maxPsi: 0.2, onViolation: 'fail' });
  });
});
