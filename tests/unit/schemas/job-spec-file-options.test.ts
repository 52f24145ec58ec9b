/**
 * `output.compression` and `output.rowGroupRows`: Parquet's file options, optional without a default (so
 * the digest of a spec that names neither is the one it had before they existed), refused at their own
 * path for the formats that have no codec or row groups.
 */
import { describe, expect, it } from 'vitest';
import { specProblems as problems } from '../../helpers/spec-problems.js';
import { parseJobSpec, specDigest, type JobSpecInput } from '../../../schemas/job-spec.js';

const base = {
  name: 'nightly-fraud',
  input: { uri: 's3://events/dt=2026-11-27/', format: 'parquet' },
  model: {
    uri: 's3://models/fraud/v3.onnx',
    inputs: { features: { columns: ['f0', 'f1', 'f2'] } },
    outputs: { score: { column: 'fraud_score' } },
  },
  output: { uri: 's3://scores/fraud/', format: 'parquet', passthrough: ['event_id'] },
  batch: { rows: 'auto', chunkRows: 500000 },
  priority: 5,
} satisfies JobSpecInput;

const withOutput = (output: Record<string, unknown>): unknown => ({
  ...base,
  output: { ...base.output, ...output },
});

describe('output file options', () => {
  it('leaves both out of a spec that names neither, so its digest is the one it had before them', () => {
    const spec = parseJobSpec(base);
    expect('compression' in spec.output).toBe(false);
    expect('rowGroupRows' in spec.output).toBe(false);
    // Digests of these specs as the schema at the commit before these fields computed them.
    expect(specDigest(spec)).toBe('f2d567c561f735860812b026404e5304450d25926069f8816e1b1de9ae8086f1');
    expect(specDigest(parseJobSpec(withOutput({ format: 'csv' })))).toBe(
      '76530b78b5fe4c3bbb2c78d4f7cdaf8b035451ff8bf45728adde9b91ed8af320',
    );
  });

  it.each(['snappy', 'zstd', 'gzip', 'none'] as const)(
    'keeps compression %s for parquet, and it enters the digest',
    (compression) => {
      const spec = parseJobSpec(withOutput({ compression, rowGroupRows: 10_000 }));
      expect(spec.output).toMatchObject({ compression, rowGroupRows: 10_000 });
      expect(specDigest(spec)).not.toBe(specDigest(parseJobSpec(base)));
    },
  );

  it('applies parquet rules when the format is left to its default', () => {
    const { format: _, ...output } = base.output;
    const spec = parseJobSpec({ ...base, output: { ...output, compression: 'zstd', rowGroupRows: 1 } });
    expect(spec.output).toMatchObject({ format: 'parquet', compression: 'zstd', rowGroupRows: 1 });
  });

  it('refuses an unknown codec at output.compression', () => {
    const [line, ...rest] = problems(withOutput({ compression: 'lz4' }));
    expect(rest).toEqual([]);
    expect(line).toMatch(/^output\.compression: /);
    expect(line).toContain('"snappy"');
  });

  it.each([0, -5, 1.5, 2 ** 31, '1000'])('refuses rowGroupRows %s at output.rowGroupRows', (rows) => {
    const found = problems(withOutput({ rowGroupRows: rows }));
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(/^output\.rowGroupRows: /);
  });

  it.each(['csv', 'jsonl', 'arrow'] as const)(
    'refuses a codec or row groups for %s output, each at its path, and accepts none',
    (format) => {
      expect(problems(withOutput({ format, compression: 'gzip', rowGroupRows: 100 }))).toEqual([
        `output.compression: gzip compresses parquet output only; ${format} parts are written uncompressed (use "none" or leave it out)`,
        `output.rowGroupRows: rowGroupRows is for parquet output only; ${format} has no row groups`,
      ]);
      expect(problems(withOutput({ format, compression: 'snappy' }))).toEqual([
        expect.stringMatching(/^output\.compression: snappy compresses parquet output only/),
      ]);
      expect(parseJobSpec(withOutput({ format, compression: 'none' })).output.compression).toBe('none');
    },
  );
});
