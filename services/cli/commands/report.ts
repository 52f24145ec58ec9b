import type { QualityResult, RunReport } from '../../../schemas/run-report.js';
import { type Command, apiFlags, apiFlagsHelp, clientFor, parseCommandArgs } from '../command.js';
import { exitCodes } from '../exit-codes.js';
import { formatCount, renderTable, writeJson } from '../output.js';

/** What a figure the report could not compute (null: no values, or NaN/∞ in JSON) prints as. */
const ABSENT = '--';

/**
 * A statistic for a table cell: whole numbers with thousands separators, others to four significant
 * figures (exponent form when that would hide them), `--` when absent.
 */
export function formatFigure(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return ABSENT;
  if (Number.isInteger(value) && Math.abs(value) < 1e15)
    return `${value < 0 ? '-' : ''}${formatCount(Math.abs(value))}`;
  const size = Math.abs(value);
  if (size >= 1e6 || size < 1e-3) return value.toExponential(3);
  return String(Number(value.toPrecision(4)));
}

/** A share 0–1 as a percentage with one decimal. */
const percent = (share: number | null | undefined): string =>
  share === null || share === undefined ? ABSENT : `${(share * 100).toFixed(1)}%`;

/**
 * A name from the data (a column, a challenger) made safe for a terminal: one with control characters is
 * printed as its JSON string, so no escape sequence in a column name reaches the screen.
 */
const printable = (name: string): string =>
  /[\u0000-\u001f\u007f-\u009f]/.test(name) ? JSON.stringify(name) : name;

/** `passed`, `passed with N warnings` (onViolation `warn`) or `failed: N violations`. */
export function qualityVerdict(quality: QualityResult): string {
  const n = quality.violations.length;
  const plural = (word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  if (!quality.passed) return `failed: ${plural('violation')}`;
  return n === 0 ? 'passed' : `passed with ${plural('warning')}`;
}

/** The report as people read it: the run in a few lines, then features, scores, agreement and quality. */
export function describeReport(report: RunReport): string {
  const { rows, models, quality } = report;
  const head = [
    `job         ${report.jobId}`,
    `created     ${report.createdAt}`,
    `rows        ${formatCount(rows.scored)} scored, ${formatCount(rows.rejected)} rejected, ${formatCount(rows.input)} read`,
    `champion    ${models.champion.uri}${models.champion.sha256 ? ` (sha256 ${models.champion.sha256})` : ''}`,
    ...models.challengers.map(
      (c) => `challenger  ${printable(c.name)}  ${c.uri}${c.sha256 ? ` (sha256 ${c.sha256})` : ''}`,
    ),
    `quality     ${quality === undefined ? 'not checked' : qualityVerdict(quality)}${
      quality?.baseline ? ` (baseline ${quality.baseline})` : ''
    }`,
  ].map((line) => `${line}\n`);

  const sections: string[] = [head.join('')];
  const psiOf = (kind: 'features' | 'scores', column: string): string => {
    const psi = quality?.psi[kind][column];
    return psi === undefined ? ABSENT : formatFigure(psi);
  };
  const withPsi = (kind: 'features' | 'scores') =>
    quality !== undefined && Object.keys(quality.psi[kind]).length > 0;
  const stats = (s: RunReport['features'][string]) => [
    formatCount(s.count),
    formatCount(s.nulls),
    formatCount(s.nans),
    formatFigure(s.mean),
    formatFigure(s.std),
    formatFigure(s.min),
    formatFigure(s.max),
  ];
  const statHeads = ['COLUMN', 'COUNT', 'NULLS', 'NANS', 'MEAN', 'STD', 'MIN', 'MAX'];

  const features = Object.entries(report.features);
  if (features.length > 0) {
    const psi = withPsi('features');
    sections.push(
      `Features\n${renderTable(
        [...statHeads, ...(psi ? ['PSI'] : [])],
        features.map(([column, s]) => [
          printable(column),
          ...stats(s),
          ...(psi ? [psiOf('features', column)] : []),
        ]),
      )}`,
    );
  }

  const scores = Object.entries(report.scores);
  if (scores.length > 0) {
    const psi = withPsi('scores');
    sections.push(
      `Scores\n${renderTable(
        [...statHeads, 'P1', 'P50', 'P99', ...(psi ? ['PSI'] : [])],
        scores.map(([column, s]) => [
          printable(column),
          ...stats(s),
          formatFigure(s.quantiles.p1),
          formatFigure(s.quantiles.p50),
          formatFigure(s.quantiles.p99),
          ...(psi ? [psiOf('scores', column)] : []),
        ]),
      )}`,
    );
  }

  const agreement = Object.entries(report.agreement).flatMap(([challenger, columns]) =>
    Object.entries(columns).map(([column, a]) => [
      printable(challenger),
      printable(column),
      formatCount(a.rows),
      formatFigure(a.meanAbsDiff),
      formatFigure(a.correlation),
      a.sameSide === undefined
        ? ABSENT
        : `${percent(a.sameSide.share)} at ${formatFigure(a.sameSide.threshold)}`,
    ]),
  );
  if (agreement.length > 0) {
    sections.push(
      `Agreement with the champion\n${renderTable(
        ['CHALLENGER', 'COLUMN', 'ROWS', 'MEAN |Δ|', 'CORRELATION', 'SAME SIDE'],
        agreement,
      )}`,
    );
  }

  if (quality !== undefined && quality.violations.length > 0) {
    const title = quality.passed ? 'Quality warnings' : 'Quality violations';
    sections.push(
      `${title}\n${renderTable(
        ['COLUMN', 'KIND', 'CHECK', 'VALUE', 'LIMIT'],
        quality.violations.map((v) => [
          printable(v.column),
          v.kind,
          v.check,
          formatFigure(v.value),
          formatFigure(v.limit),
        ]),
      )}`,
    );
  }
  return sections.join('\n');
}

export const reportCommand: Command = {
  name: 'report',
  synopsis: 'report <job-id>',
  summary: "Show a finished job's run report: column statistics, score quantiles, agreement and quality.",
  help: `Usage: quiver report <job-id> [options]

Prints the run report finalize wrote beside the job's manifest: rows, models, a table of the feature
columns (count, nulls, NaNs, mean, std, min, max, and PSI against the baseline when the quality check
ran), the score columns with their p1/p50/p99, each challenger's agreement with the champion (rows,
mean |Δ|, correlation, share on the same side of the threshold), and the quality result with every
violation (column, check, value and limit). A job the quality gate failed has a report too. With --json,
prints the report as the API returns it.

Exits 0 when the report is shown (whatever its quality result), 5 when there is no such job or it has no
report yet (REPORT_NOT_FOUND: not finished, or finished before reports), 1 when its output was replaced by
a later run (OUTPUT_REPLACED) or the API could not read it.

${apiFlagsHelp}
`,
  async run(args, context) {
    const { values, positionals } = parseCommandArgs(args, apiFlags, { min: 1, max: 1, names: 'job id' });
    const report = await clientFor(values, context).getReport(positionals[0]!);
    if (values.json) writeJson(context.stdout, report);
    else context.stdout.write(describeReport(report));
    return exitCodes.ok;
  },
};
