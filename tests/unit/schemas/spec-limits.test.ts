import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { JobSpecInvalid } from '../../../schemas/errors/job-spec-invalid.js';
import { jobSpecSchema, parseJobSpec, type JobSpecInput } from '../../../schemas/job-spec.js';
import { specLimitDefaults, type SpecLimits } from '../../../schemas/spec-limits.js';

const minimal: JobSpecInput = {
  input: { uri: 's3://events/dt=2026-11-27/', format: 'parquet' },
  model: { uri: 's3://models/fraud/v3.onnx' },
  output: { uri: 's3://scores/fraud/' },
};

/** `path: message` of every problem `parseJobSpec` reports; fails unless it throws `JobSpecInvalid`. */
function problems(input: unknown, limits?: SpecLimits): string[] {
  try {
    parseJobSpec(input, limits);
  } catch (error) {
    expect(error).toBeInstanceOf(JobSpecInvalid);
    return (error as JobSpecInvalid).problems.map((p) => `${p.path}: ${p.message}`);
  }
  throw new Error('expected JobSpecInvalid');
}

const columns = (n: number) => Array.from({ length: n }, (_, i) => `c${i}`);
const labels = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, 'v']));

describe('spec limits', () => {
  it('defaults: 2 KiB strings, 1,000 columns, 32 labels, chunkRows of at least 1,000', () => {
    expect(specLimitDefaults).toEqual({
      maxStringBytes: 2_048,
      maxColumns: 1_000,
      maxLabels: 32,
      minChunkRows: 1_000,
    });
  });

  it('refuses a string over 2 KiB of UTF-8 at its path, counting bytes, not characters', () => {
    const uri = (bytes: number) => `s3://b/${'x'.repeat(bytes - 7)}`;
    expect(parseJobSpec({ ...minimal, input: { ...minimal.input, uri: uri(2_048) } }).input.uri).toHaveLength(
      2_048,
    );
    expect(problems({ ...minimal, input: { ...minimal.input, uri: uri(2_049) } })).toEqual([
      'input.uri: 2049 bytes, over the 2048-byte limit',
    ]);
    // 700 characters, 2,100 bytes: under the limit in characters, over it in bytes.
    expect(
      problems({ ...minimal, output: { uri: 's3://o/', passthrough: ['id', '€'.repeat(700)] } }),
    ).toEqual(['output.passthrough[1]: 2100 bytes, over the 2048-byte limit']);
    expect(
      problems({
        ...minimal,
        model: { uri: 'm', inputs: { x: { columnsMatching: `^${'a'.repeat(3_000)}$` } } },
      }),
    ).toEqual(['model.inputs.x.columnsMatching: 3002 bytes, over the 2048-byte limit']);
  });

  it('refuses an oversized object key at its object, without repeating the key', () => {
    const [line] = problems({
      ...minimal,
      model: { uri: 'm', outputs: { ['o'.repeat(4_000)]: { column: 's' } } },
    });
    expect(line).toBe('model.outputs: a key of 4000 bytes, over the 2048-byte limit');
  });

  it('refuses more than 1,000 passthrough or mapping columns, and more than 1,000 mapping entries', () => {
    expect(
      parseJobSpec({ ...minimal, output: { uri: 's3://o/', passthrough: columns(1_000) } }),
    ).toBeTruthy();
    expect(problems({ ...minimal, output: { uri: 's3://o/', passthrough: columns(1_001) } })).toEqual([
      'output.passthrough: 1001 columns, over the limit of 1000',
    ]);
    expect(
      problems({ ...minimal, model: { uri: 'm', inputs: { features: { columns: columns(1_500) } } } }),
    ).toEqual(['model.inputs.features.columns: 1500 columns, over the limit of 1000']);
    expect(
      problems({ ...minimal, model: { uri: 'm', outputs: { probs: { columns: columns(1_001) } } } }),
    ).toEqual(['model.outputs.probs.columns: 1001 columns, over the limit of 1000']);
    const inputs = Object.fromEntries(columns(1_001).map((c) => [c, { listColumn: c }]));
    expect(problems({ ...minimal, model: { uri: 'm', inputs } })).toEqual([
      'model.inputs: 1001 entries, over the limit of 1000',
    ]);
  });

  it('refuses more than 32 labels', () => {
    expect(Object.keys(parseJobSpec({ ...minimal, labels: labels(32) }).labels)).toHaveLength(32);
    expect(problems({ ...minimal, labels: labels(33) })).toEqual(['labels: at most 32 labels']);
  });

  it('refuses batch.chunkRows under 1,000', () => {
    expect(parseJobSpec({ ...minimal, batch: { chunkRows: 1_000 } }).batch.chunkRows).toBe(1_000);
    expect(problems({ ...minimal, batch: { chunkRows: 999 } })).toEqual([
      'batch.chunkRows: at least 1000 rows per chunk',
    ]);
  });

  it('lists every limit a spec breaks at once', () => {
    expect(
      problems({
        ...minimal,
        name: 'n',
        input: { ...minimal.input, glob: 'g'.repeat(2_100) },
        output: { uri: 's3://o/', passthrough: columns(1_001) },
        batch: { chunkRows: 1 },
        labels: labels(40),
      }),
    ).toEqual([
      'input.glob: 2100 bytes, over the 2048-byte limit',
      'output.passthrough: 1001 columns, over the limit of 1000',
      'labels: at most 32 labels',
      'batch.chunkRows: at least 1000 rows per chunk',
    ]);
  });

  it('takes other limits when given, and leaves the stored-record schema unlimited', () => {
    const tight = { maxStringBytes: 16, maxColumns: 2, maxLabels: 1, minChunkRows: 10 };
    expect(
      problems(
        {
          ...minimal,
          output: { uri: 's3://o/', passthrough: columns(3) },
          batch: { chunkRows: 9 },
          labels: labels(2),
        },
        tight,
      ),
    ).toEqual([
      'input.uri: 26 bytes, over the 16-byte limit',
      'model.uri: 25 bytes, over the 16-byte limit',
      'output.passthrough: 3 columns, over the limit of 2',
      'labels: at most 1 labels',
      'batch.chunkRows: at least 10 rows per chunk',
    ]);
    const loose = { ...minimal, batch: { chunkRows: 10 }, labels: labels(40) };
    expect(parseJobSpec(loose, { minChunkRows: 1, maxLabels: 64 }).batch.chunkRows).toBe(10);
    // A job accepted under looser limits still reads back from Redis.
    expect(jobSpecSchema.parse(loose).batch.chunkRows).toBe(10);
  });

  it('fuzz: specs of any size fail only with JobSpecInvalid, naming exactly the limits they break', () => {
    const utf8 = (s: string) => new TextEncoder().encode(s).length;
    const text = fc.oneof(
      fc.string({ minLength: 1, maxLength: 40 }),
      fc.string({ unit: 'grapheme', minLength: 600, maxLength: 1_200 }),
      fc.string({ unit: 'binary', minLength: 1_500, maxLength: 2_600 }),
    );
    const sized = fc.record({
      uri: text,
      passthrough: fc.oneof(
        fc.array(text, { maxLength: 5 }),
        fc.integer({ min: 990, max: 1_010 }).map(columns),
      ),
      labels: fc.integer({ min: 0, max: 40 }).map(labels),
      chunkRows: fc.oneof(fc.integer({ min: 1, max: 2_000 }), fc.constant(500_000)),
    });
    fc.assert(
      fc.property(sized, ({ uri, passthrough, labels: tags, chunkRows }) => {
        const expected = [
          utf8(uri) > 2_048 ? 'input.uri' : undefined,
          ...passthrough.map((c, i) => (utf8(c) > 2_048 ? `output.passthrough[${i}]` : undefined)),
          passthrough.length > 1_000 ? 'output.passthrough' : undefined,
          Object.keys(tags).length > 32 ? 'labels' : undefined,
          chunkRows < 1_000 ? 'batch.chunkRows' : undefined,
        ].filter((p) => p !== undefined);
        const spec = {
          ...minimal,
          input: { ...minimal.input, uri },
          output: { uri: 's3://o/', passthrough },
          batch: { chunkRows },
          labels: tags,
        };
        let paths: string[] = [];
        try {
          parseJobSpec(spec);
        } catch (error) {
          if (!(error instanceof JobSpecInvalid)) throw error;
          paths = error.problems.map((p) => p.path);
        }
        expect(paths).toEqual(expected);
      }),
      { numRuns: 200 },
    );
  });

  it('fuzz: any value at all is refused only with JobSpecInvalid', () => {
    fc.assert(
      fc.property(
        fc.anything({ maxDepth: 3 }),
        fc.constantFrom('input', 'model', 'output', 'batch', 'labels'),
        (value, field) => {
          for (const candidate of [value, { ...minimal, [field]: value }]) {
            try {
              parseJobSpec(candidate);
            } catch (error) {
              expect(error).toBeInstanceOf(JobSpecInvalid);
            }
          }
        },
      ),
    );
  });
});
