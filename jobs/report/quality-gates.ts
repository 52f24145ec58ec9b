import type { QualitySpec } from '../../schemas/job-spec.js';
import type {
  ColumnSketch,
  Histogram,
  QualityResult,
  QualityViolation,
  RunReport,
  SegmentStats,
} from '../../schemas/run-report.js';
import { sketchBuckets } from './column-sketch.js';
import { BaselineInvalid } from './errors/baseline-invalid.js';
import { bucketLow, isBucketEdge } from './value-buckets.js';

/** A run's counts on a baseline's bins, with what falls below the first edge and at or above the last. */
export interface Rebinned {
  below: number;
  counts: number[];
  above: number;
}

/**
 * A sketch's counts on `edges` (a baseline report's histogram). Exact: every edge is a bucket edge, so each
 * bucket lies wholly in one bin. An edge that is not (a hand-made baseline), or edges out of order, throw
 * `BaselineInvalid`. The largest double stands for an infinite edge (JSON has none).
 */
export function rebin(sketch: ColumnSketch, edges: readonly number[], column = '?'): Rebinned {
  const finite = edges.map((e) =>
    e === Number.MAX_VALUE ? Infinity : e === -Number.MAX_VALUE ? -Infinity : e,
  );
  finite.forEach((edge, i) => {
    if (i > 0 && !(edge > finite[i - 1]!))
      throw new BaselineInvalid(column, edges[i]!, 'edges must increase');
    if (edge !== -Infinity && !isBucketEdge(edge, sketch.bits))
      throw new BaselineInvalid(column, edges[i]!, `not a bucket edge at ${sketch.bits} mantissa bits`);
  });
  const out: Rebinned = { below: 0, counts: finite.slice(1).map(() => 0), above: 0 };
  sketchBuckets(sketch, (id, count) => {
    const lo = bucketLow(id, sketch.bits);
    if (finite.length === 0 || lo < finite[0]!) {
      out.below += count;
      return;
    }
    if (lo >= finite[finite.length - 1]!) {
      out.above += count;
      return;
    }
    // The bin whose [edges[i], edges[i+1]) holds the bucket's least value.
    let a = 0;
    let b = finite.length - 1;
    while (b - a > 1) {
      const m = (a + b) >> 1;
      if (finite[m]! <= lo) a = m;
      else b = m;
    }
    out.counts[a] = (out.counts[a] ?? 0) + count;
  });
  return out;
}

/** Shares under this are taken as this (the usual smoothing), so an empty bin gives a large, finite PSI. */
const SHARE_FLOOR = 1e-4;

/**
 * Population Stability Index of a run against its baseline: Σ (cur − base) · ln(cur / base) over the
 * baseline's bins and the two overflow bins (baseline share 0), each share floored at 1e-4.
 */
export function psi(baseline: Histogram, current: Rebinned): number {
  const baseTotal = baseline.counts.reduce((a, b) => a + b, 0);
  const curTotal = current.below + current.above + current.counts.reduce((a, b) => a + b, 0);
  if (baseTotal === 0 || curTotal === 0) return 0;
  const pairs: Array<[number, number]> = [
    [0, current.below],
    ...baseline.counts.map((c, i): [number, number] => [c, current.counts[i] ?? 0]),
    [0, current.above],
  ];
  let sum = 0;
  for (const [b, c] of pairs) {
    const pb = Math.max(b / baseTotal, SHARE_FLOOR);
    const pc = Math.max(c / curTotal, SHARE_FLOOR);
    sum += (pc - pb) * Math.log(pc / pb);
  }
  return sum;
}

/**
 * The gates of `quality` on a run's merged statistics: PSI of every feature and score the baseline also
 * has (a column only one of them has is skipped), and each feature's share of nulls. No baseline (a
 * schedule's first night): no PSI, the null gate alone.
 */
export function evaluateQuality(
  stats: SegmentStats,
  quality: QualitySpec,
  baseline: { uri: string; report: RunReport } | undefined,
): QualityResult {
  const violations: QualityViolation[] = [];
  const psiOf = (kind: 'feature' | 'score'): Record<string, number> => {
    const mine = kind === 'feature' ? stats.features : stats.scores;
    const theirs = baseline ? (kind === 'feature' ? baseline.report.features : baseline.report.scores) : {};
    const out: Record<string, number> = {};
    for (const [column, sketch] of Object.entries(mine)) {
      const histogram = theirs[column]?.histogram;
      if (!histogram || histogram.counts.length === 0 || sketch.count === 0) continue;
      const value = psi(histogram, rebin(sketch, histogram.edges, column));
      out[column] = value;
      if (quality.maxPsi !== undefined && value > quality.maxPsi)
        violations.push({ column, kind, check: 'psi', value, limit: quality.maxPsi });
    }
    return out;
  };
  const features = psiOf('feature');
  const scores = psiOf('score');
  const nullFraction: Record<string, number> = {};
  for (const [column, sketch] of Object.entries(stats.features)) {
    if (sketch.rows === 0) continue;
    const value = sketch.nulls / sketch.rows;
    nullFraction[column] = value;
    if (quality.maxNullFraction !== undefined && value > quality.maxNullFraction)
      violations.push({
        column,
        kind: 'feature',
        check: 'nullFraction',
        value,
        limit: quality.maxNullFraction,
      });
  }
  return {
    ...(baseline ? { baseline: baseline.uri } : {}),
    onViolation: quality.onViolation ?? 'fail',
    psi: { features, scores },
    nullFraction,
    violations,
    passed: violations.length === 0,
  };
}
