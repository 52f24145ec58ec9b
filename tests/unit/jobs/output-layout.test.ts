/**
 * Output layout (issue 19.1) and partitioning (19.2 `output.partitionBy`): the spec fields (optional, no
 * default, so old digests stay), the names each layout writes, Hive's escaping of partition folders, what
 * an exact location's sweep may delete, and the folders a job holds against others (`OUTPUT_IN_USE`).
 */
import { describe, expect, it } from 'vitest';
import { specProblems as problems } from '../../helpers/spec-problems.js';
import { parseJobSpec, specDigest, type JobSpecInput } from '../../../schemas/job-spec.js';
import { jobOutputRoot, outputLayout } from '../../../jobs/output-layout.js';
import { escapeHivePathName, partitionFolder } from '../../../jobs/output-partitions.js';
import { outputHoldOf } from '../../../services/queue/job-store.js';

const base = {
  input: { uri: 's3://events/dt=2026-11-27/', format: 'parquet' },
  model: {
    uri: 's3://models/fraud/v3.onnx',
    inputs: { features: { columns: ['f0', 'f1'] } },
    outputs: { score: { column: 'fraud_score' } },
  },
  output: { uri: 's3://scores/fraud/', passthrough: ['event_id', 'dt'] },
} satisfies JobSpecInput;

const withOutput = (output: Record<string, unknown>): unknown => ({
  ...base,
  output: { ...base.output, ...output },
});

describe('output.layout and output.partitionBy in the spec', () => {
  it('are left out of a spec that names neither, so its digest stays what it was', () => {
    const spec = parseJobSpec(base);
    expect(spec.output).not.toHaveProperty('layout');
    expect(spec.output).not.toHaveProperty('partitionBy');
    expect(specDigest(spec)).not.toBe(specDigest(parseJobSpec(withOutput({ layout: 'job' }))));
    expect(parseJobSpec(withOutput({ layout: 'exact', partitionBy: ['dt'] })).output).toMatchObject({
      layout: 'exact',
      partitionBy: ['dt'],
    });
  });

  it('refuses a partition column that is not an output column, at its index', () => {
    expect(problems(withOutput({ partitionBy: ['dt', 'country'] }))).toEqual([
      'output.partitionBy[1]: "country" is not an output column: add it to output.passthrough',
    ]);
    expect(problems(withOutput({ partitionBy: ['dt', 'dt'] }))).toEqual([
      'output.partitionBy[1]: "dt" is named twice',
    ]);
    expect(problems(withOutput({ passthrough: '*', exclude: ['dt'], partitionBy: ['dt'] }))).toEqual([
      'output.partitionBy[0]: "dt" is excluded from the output (output.exclude)',
    ]);
    // With every input column passed through, the input decides (at its first chunk).
    expect(
      parseJobSpec(withOutput({ passthrough: '*', partitionBy: ['anything'] })).output.partitionBy,
    ).toEqual(['anything']);
    expect(problems(withOutput({ partitionBy: [] }))[0]).toMatch(/^output\.partitionBy: /);
    expect(problems(withOutput({ layout: 'flat' }))[0]).toMatch(/^output\.layout: /);
  });
});

describe('Hive partition folders', () => {
  it('escapes what Hive escapes (FileUtils.escapePathName) and nothing else', () => {
    expect(escapeHivePathName('2026-11-28')).toBe('2026-11-28');
    expect(escapeHivePathName('a/b=c%d e')).toBe('a%2Fb%3Dc%25d e');
    expect(escapeHivePathName(`"#%'*/:=?\\\x7F{[]^`)).toBe('%22%23%25%27%2A%2F%3A%3D%3F%5C%7F%7B%5B%5D%5E');
    expect(escapeHivePathName('tab\there\nnul\x01')).toBe('tab%09here%0Anul%01');
    expect(escapeHivePathName('café ü}|~')).toBe('café ü}|~');
  });

  it('names null and the empty string as the default partition, in column order', () => {
    expect(partitionFolder(['dt', 'country'], { country: 'fr/be', dt: '2026-11-28' })).toBe(
      'dt=2026-11-28/country=fr%2Fbe/',
    );
    expect(partitionFolder(['dt'], { dt: null })).toBe('dt=__HIVE_DEFAULT_PARTITION__/');
    expect(partitionFolder(['dt'], { dt: '' })).toBe('dt=__HIVE_DEFAULT_PARTITION__/');
    expect(partitionFolder(['a=b'], { 'a=b': 'x' })).toBe('a%3Db=x/');
  });
});

describe('output layouts', () => {
  it('job: everything under <uri>/<jobId>/, as before', () => {
    const layout = outputLayout('s3://scores/fraud/', 'job-1', 'parquet');
    expect(layout.root).toBe('s3://scores/fraud/job-1');
    expect(layout.segmentPart(3, 'att000000001', 0)).toBe(
      's3://scores/fraud/job-1/part-00003-att000000001.parquet',
    );
    expect(layout.segmentPart(3, 'att000000001', 0, 'dt=x%2Fy/')).toBe(
      's3://scores/fraud/job-1/dt=x%2Fy/part-00003-att000000001.parquet',
    );
    expect(layout.commit(3, 'att000000001')).toBe(
      's3://scores/fraud/job-1/_commits/part-00003-att000000001.json',
    );
    expect(layout.rejected).toBe('s3://scores/fraud/job-1/rejected/');
    expect(jobOutputRoot({ uri: 's3://scores/fraud', layout: 'job' }, 'job-1')).toBe(
      's3://scores/fraud/job-1/',
    );
    // The sweep deletes what Quiver writes in the job's folder, nothing outside it, nor another job's
    // folder nested in it (a job whose output.uri is this folder).
    for (const key of [
      'part-00000-zombie000000.parquet',
      'dt=1/part-00000-zombie000000.csv',
      'rejected/x.jsonl',
    ])
      expect(layout.sweepable(`s3://scores/fraud/job-1/${key}`), key).toBe(true);
    for (const key of ['_commits/part-00000-zombie000000.json', '_segments/part-00000/ref.json'])
      expect(layout.sweepable(`s3://scores/fraud/job-1/${key}`), key).toBe(true);
    expect(layout.sweepable('s3://scores/fraud/job-1/notes.txt')).toBe(false);
    expect(layout.sweepable('s3://scores/fraud/job-1/job-9/part-00000-att000000001.parquet')).toBe(false);
    expect(layout.sweepable('s3://scores/fraud/job-10/part-00000-att000000001.parquet')).toBe(false);
    expect(layout.sweepable('s3://scores/fraud/job-1')).toBe(false);
  });

  it('exact: data directly under <uri>/, bookkeeping in _quiver/<jobId>/', () => {
    const layout = outputLayout('s3://scores/fraud/dt=2026-11-28/', 'job-1', 'csv', 'exact');
    expect(layout.root).toBe('s3://scores/fraud/dt=2026-11-28');
    expect(layout.manifest).toBe('s3://scores/fraud/dt=2026-11-28/_manifest.json');
    expect(layout.success).toBe('s3://scores/fraud/dt=2026-11-28/_SUCCESS');
    expect(layout.segmentPart(0, 'att000000001', 2048)).toBe(
      's3://scores/fraud/dt=2026-11-28/part-00000-att000000001-r000000002048.csv',
    );
    expect(layout.segmentMarker(0, 'ref')).toBe(
      's3://scores/fraud/dt=2026-11-28/_quiver/job-1/_segments/part-00000/ref.json',
    );
    expect(layout.commits).toBe('s3://scores/fraud/dt=2026-11-28/_quiver/job-1/_commits/');
    expect(layout.segmentRejected(0, 'att000000001', 0)).toBe(
      's3://scores/fraud/dt=2026-11-28/_rejected/part-00000-att000000001.jsonl',
    );
    expect(jobOutputRoot({ uri: 's3://scores/fraud/dt=2026-11-28', layout: 'exact' }, 'job-1')).toBe(
      's3://scores/fraud/dt=2026-11-28/',
    );
  });

  it("exact: the sweep deletes only Quiver's own objects at the location", () => {
    const layout = outputLayout('s3://t/x/', 'job-2', 'parquet', 'exact');
    const at = (key: string): boolean => layout.sweepable(`s3://t/x/${key}`);
    for (const key of [
      'part-00000-abc123def456.parquet',
      'part-00012-abc123def456-r000000004096.jsonl',
      'dt=2026-11-28/part-00000-abc123def456.csv',
      'dt=a%2Fb/country=__HIVE_DEFAULT_PARTITION__/part-00001-abc123def456.arrow',
      '_rejected/part-00000-abc123def456.jsonl',
      '_quiver/job-1/_commits/part-00000-abc123def456.json',
    ])
      expect(at(key), key).toBe(true);
    for (const key of [
      'notes.txt',
      'part-0.parquet',
      'job-9/part-00000-abc123def456.parquet',
      'job-9/dt=1/part-00000-abc123def456.parquet',
      'dt=1/readme.md',
      'sub/_quiver/job-1/x.json',
    ])
      expect(at(key), key).toBe(false);
    expect(layout.sweepable('s3://t/xy/part-00000-abc123def456.parquet')).toBe(false);
  });

  it('file:// partition folders are percent-encoded as the listing spells them', () => {
    const layout = outputLayout('file:///tmp/out/', 'job-1', 'parquet', 'exact');
    expect(layout.segmentPart(0, 'att000000001', 0, 'v=a%2Fb c/')).toBe(
      'file:///tmp/out/v=a%252Fb%20c/part-00000-att000000001.parquet',
    );
  });
});

describe('output folder holds', () => {
  it('hold the record folder and name every folder above it', () => {
    expect(outputHoldOf({ uri: 's3://scores/fraud/dt=1', layout: 'exact' }, 'j')).toEqual({
      folder: 's3://scores/fraud/dt=1/',
      parents: ['s3://scores/', 's3://scores/fraud/'],
    });
    expect(outputHoldOf({ uri: 's3://scores//fraud/' }, 'j')).toEqual({
      folder: 's3://scores/fraud/j/',
      parents: ['s3://scores/', 's3://scores/fraud/'],
    });
    // A plain path is the file:// URI it names.
    expect(outputHoldOf({ uri: '/tmp/out', layout: 'exact' }, 'j').folder).toBe('file:///tmp/out/');
    expect(outputHoldOf({ uri: 'file:///tmp/out/', layout: 'exact' }, 'j')).toEqual({
      folder: 'file:///tmp/out/',
      parents: ['file:///', 'file:///tmp/'],
    });
  });
});
