import { describe, expect, it } from 'vitest';
import { JobSpecInvalid } from '../../../schemas/errors/job-spec-invalid.js';
import { jobSpecSchema, parseJobSpec, specDigest, type JobSpecInput } from '../../../schemas/job-spec.js';

const minimal: JobSpecInput = {
  input: { uri: 's3://events/dt=2026-11-27/', format: 'parquet' },
  model: { uri: 's3://models/fraud/v3.onnx' },
  output: { uri: 's3://scores/fraud/' },
};

/** The DESIGN.md public-contract example, verbatim apart from a real-looking secret. */
const full = {
  name: 'nightly-fraud',
  input: { uri: 's3://events/dt=2026-11-27/', format: 'parquet' },
  model: {
    uri: 's3://models/fraud/v3.onnx',
    inputs: { features: { columns: ['f0', 'f1', 'f2'] } },
    outputs: { score: { column: 'fraud_score' } },
  },
  output: { uri: 's3://scores/fraud/', format: 'parquet', passthrough: ['event_id'] },
  batch: { rows: 'auto', chunkRows: 500000 },
  errors: { onInvalidRow: 'fail', maxInvalidFraction: 0.0 },
  webhook: { url: 'https://example.com/hooks/quiver', secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' },
  priority: 5,
  labels: { team: 'risk' },
};

/** The problems `parseJobSpec` reports for `input`, as `path: message` lines. */
function problems(input: unknown): string[] {
  try {
    parseJobSpec(input);
  } catch (error) {
    expect(error).toBeInstanceOf(JobSpecInvalid);
    const invalid = error as JobSpecInvalid;
    expect(invalid.code).toBe('JOB_SPEC_INVALID');
    // Every problem is in the message too, with its path.
    for (const p of invalid.problems) expect(invalid.message).toContain(`${p.path}: ${p.message}`);
    return invalid.problems.map((p) => `${p.path}: ${p.message}`);
  }
  throw new Error('expected JobSpecInvalid');
}

describe('parseJobSpec', () => {
  it('fills every default', () => {
    expect(parseJobSpec(minimal)).toEqual({
      input: { uri: 's3://events/dt=2026-11-27/', format: 'parquet', header: true },
      model: { uri: 's3://models/fraud/v3.onnx' },
      output: { uri: 's3://scores/fraud/', format: 'parquet', passthrough: [] },
      batch: { rows: 'auto', chunkRows: 500_000 },
      errors: { onInvalidRow: 'fail', maxInvalidFraction: 0 },
      priority: 5,
      labels: {},
    });
  });

  it('accepts the public contract example and keeps what it says', () => {
    const spec = parseJobSpec(full);
    expect(spec.model.inputs?.features).toEqual({ columns: ['f0', 'f1', 'f2'], nulls: 'fail' });
    expect(spec.output.passthrough).toEqual(['event_id']);
    expect(spec.webhook?.url).toBe('https://example.com/hooks/quiver');
    expect(spec.labels).toEqual({ team: 'risk' });
  });

  it('fills defaults inside a partly given batch and error policy', () => {
    const spec = parseJobSpec({ ...minimal, batch: { rows: 4096 }, errors: { onInvalidRow: 'skip' } });
    expect(spec.batch).toEqual({ rows: 4096, chunkRows: 500_000 });
    expect(spec.errors).toEqual({ onInvalidRow: 'skip', maxInvalidFraction: 0 });
  });

  it('keeps a CSV header setting and the glob', () => {
    const spec = parseJobSpec({
      ...minimal,
      input: { uri: 'file:///d/', format: 'csv', header: false, glob: '*.csv' },
    });
    expect(spec.input).toEqual({ uri: 'file:///d/', format: 'csv', header: false, glob: '*.csv' });
  });

  it('rejects an unknown field at any depth, naming its path', () => {
    expect(problems({ ...minimal, colour: 'blue' })).toEqual(['colour: unknown field']);
    expect(problems({ ...minimal, input: { ...minimal.input, compression: 'gzip' } })).toEqual([
      'input.compression: unknown field',
    ]);
    expect(problems({ ...minimal, batch: { rowz: 5 } })).toEqual(['batch.rowz: unknown field']);
    expect(
      problems({ ...minimal, webhook: { url: 'https://x.test/h', secret: 'whsec_a', retries: 3 } }),
    ).toEqual(['webhook.retries: unknown field']);
  });

  it('reports missing required fields', () => {
    expect(problems({ input: minimal.input })).toEqual(['model: required', 'output: required']);
  });

  it('lists every problem, nested ones with their full path', () => {
    const found = problems({
      ...minimal,
      name: '',
      input: { uri: 's3://a/', format: 'xml' },
      model: { uri: 's3://m.onnx', inputs: { features: { columns: ['a'], nulls: 'bogus' } } },
      output: { uri: 's3://o/', passthrough: ['id', 7] },
      errors: { maxInvalidFraction: 1.5 },
      labels: { team: 3 },
    });
    expect(found.map((line) => line.slice(0, line.indexOf(':')))).toEqual([
      'name',
      'input.format',
      'model.inputs.features.nulls',
      'output.passthrough[1]',
      'errors.maxInvalidFraction',
      'labels.team',
    ]);
  });

  it('explains a mapping that matches none of its forms', () => {
    const [line] = problems({ ...minimal, model: { uri: 'm', inputs: { x: { cols: ['a'] } } } });
    expect(line).toMatch(/^model\.inputs\.x: matches no accepted form \(columns: required/);
  });

  it('requires a whsec_ webhook secret and an http(s) URL', () => {
    const webhook = (url: string, secret: string) => ({ ...minimal, webhook: { url, secret } });
    expect(parseJobSpec(webhook('http://hooks.test/q', 'whsec_abc')).webhook?.secret).toBe('whsec_abc');
    expect(problems(webhook('https://hooks.test/q', 'abc'))).toEqual([
      'webhook.secret: expected a secret starting with "whsec_"',
    ]);
    expect(problems(webhook('https://hooks.test/q', 'whsec_'))).toHaveLength(1);
    expect(problems(webhook('ftp://hooks.test/q', 'whsec_abc'))).toEqual([
      'webhook.url: expected an http:// or https:// URL',
    ]);
    expect(problems(webhook('not a url', 'whsec_abc'))).toHaveLength(1);
  });

  it('bounds priority to integers 1..10', () => {
    for (const priority of [1, 5, 10]) expect(parseJobSpec({ ...minimal, priority }).priority).toBe(priority);
    for (const priority of [0, 11, 2.5, '5']) {
      expect(problems({ ...minimal, priority })[0]).toMatch(/^priority: /);
    }
  });

  it('bounds labels: 32 entries, 128 characters', () => {
    const labels = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, 'v']));
    expect(Object.keys(parseJobSpec({ ...minimal, labels: labels(32) }).labels)).toHaveLength(32);
    expect(problems({ ...minimal, labels: labels(33) })).toEqual(['labels: at most 32 labels']);
    expect(problems({ ...minimal, labels: { ['k'.repeat(129)]: 'v' } })[0]).toMatch(/^labels\./);
    expect(problems({ ...minimal, labels: { k: 'v'.repeat(129) } })[0]).toMatch(/^labels\.k: /);
  });

  it('bounds the name and the invalid fraction', () => {
    expect(problems({ ...minimal, name: 'n'.repeat(201) })[0]).toMatch(/^name: /);
    expect(parseJobSpec({ ...minimal, errors: { maxInvalidFraction: 1 } }).errors.maxInvalidFraction).toBe(1);
    expect(problems({ ...minimal, errors: { maxInvalidFraction: -0.1 } })[0]).toMatch(
      /^errors.maxInvalidFraction/,
    );
  });

  it('reports a non-object spec at the root', () => {
    expect(problems(null)).toEqual([expect.stringMatching(/^\(root\): /)]);
  });

  it('is the schema: parse() and parseJobSpec agree on valid input', () => {
    expect(parseJobSpec(full)).toEqual(jobSpecSchema.parse(full));
  });
});

describe('specDigest', () => {
  it('is a sha256 hex digest, the same for the same spec whatever its key order', () => {
    const a = parseJobSpec(full);
    const reordered = parseJobSpec({
      labels: { team: 'risk' },
      priority: 5,
      webhook: { secret: full.webhook.secret, url: full.webhook.url },
      errors: { maxInvalidFraction: 0, onInvalidRow: 'fail' },
      batch: { chunkRows: 500000, rows: 'auto' },
      output: { passthrough: ['event_id'], format: 'parquet', uri: 's3://scores/fraud/' },
      model: {
        outputs: { score: { column: 'fraud_score' } },
        inputs: { features: { columns: ['f0', 'f1', 'f2'] } },
        uri: 's3://models/fraud/v3.onnx',
      },
      input: { format: 'parquet', uri: 's3://events/dt=2026-11-27/' },
      name: 'nightly-fraud',
    });
    expect(specDigest(a)).toMatch(/^[0-9a-f]{64}$/);
    expect(specDigest(reordered)).toBe(specDigest(a));
  });

  it('treats written defaults like omitted ones, and differs when anything differs', () => {
    const base = parseJobSpec(minimal);
    expect(specDigest(parseJobSpec({ ...minimal, priority: 5, labels: {} }))).toBe(specDigest(base));
    expect(specDigest(parseJobSpec({ ...minimal, priority: 4 }))).not.toBe(specDigest(base));
    // Column order is meaning, not formatting: arrays keep their order.
    const cols = (columns: string[]) =>
      specDigest(parseJobSpec({ ...minimal, model: { uri: 'm', inputs: { x: { columns } } } }));
    expect(cols(['a', 'b'])).not.toBe(cols(['b', 'a']));
  });
});
