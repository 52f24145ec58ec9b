import { describe, expect, it } from 'vitest';
import { runReportSchema } from '../../../schemas/run-report.js';
import { formatFigure, qualityVerdict } from '../../../services/cli/commands/report.js';
import { main, usage } from '../../../services/cli/main.js';
import { hostileColumn, runReportFixture } from '../../helpers/run-report-fixture.js';
import { fakeContext, fakeFetch, json } from './fixtures.js';

/** The cells of the text table row whose first cell is `first` (cells are separated by two spaces or more). */
function rowOf(text: string, first: string): string[] {
  const line = text.split('\n').find((l) => l.startsWith(`${first}  `));
  expect(line, `a row for ${first}`).toBeDefined();
  return line!.split(/ {2,}/);
}

describe('quiver report', () => {
  const report = runReportFixture('job-1');

  it('prints the rows, models, features with PSI, score quantiles, agreement and each violation', async () => {
    const fetch = fakeFetch(() => json(200, report));
    const { context, stdout } = fakeContext(fetch.impl);
    expect(await main(['report', 'job-1'], context)).toBe(0);
    expect(fetch.calls.map((c) => c.url.pathname)).toEqual(['/v1/jobs/job-1/report']);
    const text = stdout.text;
    expect(text).toContain('rows        1,240 scored, 10 rejected, 1,250 read\n');
    expect(text).toContain(`champion    s3://models/fraud/v3.onnx (sha256 ${'b'.repeat(64)})\n`);
    expect(text).toContain('challenger  v4  s3://models/fraud/v4.onnx\n');
    expect(text).toContain(
      'quality     failed: 1 violation (baseline s3://scores/fraud/previous/_report.json)\n',
    );
    expect(text).toMatch(/^COLUMN +COUNT +NULLS +NANS +MEAN +STD +MIN +MAX +PSI$/m);
    expect(rowOf(text, 'f0')).toEqual(['f0', '1,240', '0', '0', '0.1234', '1.063', '-2.5', '3.75', '0.0123']);
    // An absent figure (null std) prints as --, never as 0.
    expect(rowOf(text, hostileColumn)).toEqual([
      hostileColumn,
      '1,200',
      '37',
      '3',
      '101.3',
      '--',
      '0',
      '912.5',
      '0.4567',
    ]);
    expect(text).toMatch(/^COLUMN +COUNT +NULLS +NANS +MEAN +STD +MIN +MAX +P1 +P50 +P99 +PSI$/m);
    expect(rowOf(text, 'score')).toEqual([
      'score',
      '1,240',
      '0',
      '0',
      '0.2468',
      '0.1357',
      '1.000e-4',
      '0.9987',
      '0.0104',
      '0.5004',
      '0.9904',
      '0.0456',
    ]);
    expect(text).toMatch(/^CHALLENGER +COLUMN +ROWS +MEAN \|Δ\| +CORRELATION +SAME SIDE$/m);
    expect(rowOf(text, 'v4')).toEqual(['v4', 'score', '1,240', '0.0321', '0.9876', '93.2% at 0.5']);
    expect(text).toContain('Quality violations\n');
    expect(text).toMatch(new RegExp(`^${escape(hostileColumn)} +feature +psi +0\\.4567 +0\\.25$`, 'm'));
  });

  it('--json prints the report as the API returned it', async () => {
    const { context, stdout } = fakeContext(fakeFetch(() => json(200, report)).impl);
    expect(await main(['report', 'job-1', '--json'], context)).toBe(0);
    expect(runReportSchema.parse(JSON.parse(stdout.text))).toEqual(report);
  });

  it('leaves out what the report has not (no quality, no challengers) and prints control characters escaped', async () => {
    const bare = runReportFixture('job-2', {
      models: { champion: { uri: 'file:///m.onnx' }, challengers: [] },
      agreement: {},
      quality: undefined,
      features: { 'evil\u001b[2Jcol': runReportFixture('x').features.f0! },
    });
    const { context, stdout } = fakeContext(fakeFetch(() => json(200, bare)).impl);
    expect(await main(['report', 'job-2'], context)).toBe(0);
    expect(stdout.text).toContain('quality     not checked\n');
    expect(stdout.text).not.toContain('\u001b');
    expect(stdout.text).toContain('"evil\\u001b[2Jcol"');
    expect(stdout.text).not.toMatch(/PSI|CHALLENGER|Quality/);
  });

  it('exits 5 with the code when the job has no report yet, 1 when its output was replaced', async () => {
    const missing = fakeContext(
      fakeFetch(() =>
        json(404, {
          error: {
            code: 'REPORT_NOT_FOUND',
            message: 'job job-1 is running; its report is written when it finishes',
          },
        }),
      ).impl,
    );
    expect(await main(['report', 'job-1'], missing.context)).toBe(5);
    expect(missing.stderr.text).toContain('REPORT_NOT_FOUND');
    expect(missing.stdout.text).toBe('');
    const replaced = fakeContext(
      fakeFetch(() => json(409, { error: { code: 'OUTPUT_REPLACED', message: 'replaced by job job-9' } }))
        .impl,
    );
    expect(await main(['report', 'job-1'], replaced.context)).toBe(1);
    expect(replaced.stderr.text).toContain('OUTPUT_REPLACED');
    expect(await main(['report'], fakeContext(fakeFetch(() => json(200, report)).impl).context)).toBe(2);
  });

  it('is listed in quiver --help and has its own help', async () => {
    expect(usage).toContain('report <job-id>');
    const { context, stdout } = fakeContext(fakeFetch(() => json(200, report)).impl);
    expect(await main(['report', '--help'], context)).toBe(0);
    expect(stdout.text).toContain('REPORT_NOT_FOUND');
  });

  it('formats figures and verdicts', () => {
    expect([null, 0, -3, 1234567, 0.5, 1 / 3, 2.5e-7, 12_345_678.9].map(formatFigure)).toEqual([
      '--',
      '0',
      '-3',
      '1,234,567',
      '0.5',
      '0.3333',
      '2.500e-7',
      '1.235e+7',
    ]);
    const quality = report.quality!;
    expect(qualityVerdict(quality)).toBe('failed: 1 violation');
    expect(qualityVerdict({ ...quality, onViolation: 'warn', passed: true })).toBe('passed with 1 warning');
    expect(qualityVerdict({ ...quality, violations: [], passed: true })).toBe('passed');
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
