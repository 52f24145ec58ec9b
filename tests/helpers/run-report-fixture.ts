import { type RunReport, quantileNames, runReportSchema } from '../../schemas/run-report.js';

/** A column name that would run in a page that put it in as HTML, and break a terminal's table. */
export const hostileColumn = '<script>window.pwned = 1</script>amount';

/**
 * A small hand-built run report that parses (`runReportSchema`): two feature columns (one named
 * {@link hostileColumn}), one score column with every quantile, one challenger's agreement, and a
 * quality result under `fail` with one violation. Figures are chosen to be recognisable in text.
 */
export function runReportFixture(jobId: string, overrides: Partial<RunReport> = {}): RunReport {
  const quantiles = Object.fromEntries(
    quantileNames.map((name) => [name, Number(name.slice(1)) / 100 + 0.0004]),
  ) as RunReport['scores'][string]['quantiles'];
  return runReportSchema.parse({
    jobId,
    specDigest: 'a'.repeat(64),
    createdAt: '2026-12-01T02:00:00.000Z',
    rows: { input: 1_250, scored: 1_240, rejected: 10 },
    models: {
      champion: { uri: 's3://models/fraud/v3.onnx', sha256: 'b'.repeat(64) },
      challengers: [{ name: 'v4', uri: 's3://models/fraud/v4.onnx' }],
    },
    features: {
      f0: {
        count: 1_240,
        nulls: 0,
        nans: 0,
        min: -2.5,
        max: 3.75,
        mean: 0.1234,
        std: 1.0625,
        histogram: { edges: [-4, -2, 0, 2, 4], counts: [40, 600, 500, 100] },
      },
      [hostileColumn]: {
        count: 1_200,
        nulls: 37,
        nans: 3,
        min: 0,
        max: 912.5,
        mean: 101.25,
        std: null,
        histogram: { edges: [0, 256, 512, 1024], counts: [1_000, 150, 50] },
      },
    },
    scores: {
      score: {
        count: 1_240,
        nulls: 0,
        nans: 0,
        min: 0.0001,
        max: 0.9987,
        mean: 0.2468,
        std: 0.1357,
        histogram: { edges: [0, 0.5, 1], counts: [1_000, 240] },
        quantiles,
      },
    },
    agreement: {
      v4: {
        score: {
          rows: 1_240,
          meanAbsDiff: 0.0321,
          correlation: 0.9876,
          sameSide: { threshold: 0.5, share: 0.9316 },
        },
      },
    },
    quality: {
      baseline: 's3://scores/fraud/previous/_report.json',
      onViolation: 'fail',
      psi: { features: { f0: 0.0123, [hostileColumn]: 0.4567 }, scores: { score: 0.0456 } },
      nullFraction: { f0: 0, [hostileColumn]: 0.0308 },
      violations: [{ column: hostileColumn, kind: 'feature', check: 'psi', value: 0.4567, limit: 0.25 }],
      passed: false,
    },
    ...overrides,
  });
}
