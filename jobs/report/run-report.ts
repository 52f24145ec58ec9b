import {
  type AgreementSketch,
  type AgreementSummary,
  type ColumnSketch,
  type ColumnSummary,
  type Histogram,
  type QualityResult,
  type RunReport,
  type ScoreSummary,
  type SegmentStats,
  quantileNames,
} from '../../schemas/run-report.js';
import { mergeAgreement } from './agreement-sketch.js';
import { finiteCount, hasInfinity, mergeSketches, sketchBuckets } from './column-sketch.js';
import { bucketHigh, bucketLow } from './value-buckets.js';

/** Every segment's statistics as one: columns merged by name (a column some segments lack is merged where present). */
export function mergeSegmentStats(all: readonly SegmentStats[]): SegmentStats {
  const merged: SegmentStats = { features: {}, scores: {}, agreement: {} };
  const into = (target: Record<string, ColumnSketch>, source: Record<string, ColumnSketch>) => {
    for (const [name, sketch] of Object.entries(source)) {
      const seen = target[name];
      target[name] = seen ? mergeSketches(seen, sketch) : sketch;
    }
  };
  for (const stats of all) {
    into(merged.features, stats.features);
    into(merged.scores, stats.scores);
    for (const [challenger, columns] of Object.entries(stats.agreement)) {
      const target = (merged.agreement[challenger] ??= {});
      for (const [column, sketch] of Object.entries(columns)) {
        const seen: AgreementSketch | undefined = target[column];
        target[column] = seen ? mergeAgreement(seen, sketch) : sketch;
      }
    }
  }
  return merged;
}

/** Bins of the report's histograms at most; their edges are bucket edges, so baselines re-bin exactly. */
const MAX_BINS = 20;

/** JSON has no infinity: an infinite edge (a column holding ±Infinity) is written as the largest double. */
const finiteEdge = (edge: number): number =>
  edge === Infinity ? Number.MAX_VALUE : edge === -Infinity ? -Number.MAX_VALUE : edge;

function bucketsOf(sketch: ColumnSketch): { ids: number[]; counts: number[]; total: number } {
  const ids: number[] = [];
  const counts: number[] = [];
  let total = 0;
  sketchBuckets(sketch, (id, count) => {
    ids.push(id);
    counts.push(count);
    total += count;
  });
  return { ids, counts, total };
}

/**
 * The report's histogram of a column: up to 20 bins cut at the bucket edges nearest above the 5 %, 10 %, …
 * 95 % points of the counts (distinct), from the least value's bucket to the greatest's. Counts are exact.
 */
export function histogramOf(sketch: ColumnSketch): Histogram {
  const { ids, counts, total } = bucketsOf(sketch);
  if (total === 0) return { edges: [], counts: [] };
  const bits = sketch.bits;
  const edges = [bucketLow(ids[0]!, bits)];
  const binCounts: number[] = [];
  let cumulative = 0;
  let inBin = 0;
  let next = 1;
  ids.forEach((id, i) => {
    cumulative += counts[i]!;
    inBin += counts[i]!;
    const last = i === ids.length - 1;
    if (last || cumulative >= (next * total) / MAX_BINS) {
      edges.push(bucketHigh(id, bits));
      binCounts.push(inBin);
      inBin = 0;
      while (next < MAX_BINS && cumulative >= (next * total) / MAX_BINS) next += 1;
    }
  });
  return { edges: edges.map(finiteEdge), counts: binCounts };
}

const figure = (n: number): number | null => (Number.isFinite(n) ? n : null);

/** A column's summary: counts, extremes, mean and sample std over the finite values, and its histogram. */
export function summarizeColumn(sketch: ColumnSketch): ColumnSummary {
  const n = finiteCount(sketch);
  const infinite = hasInfinity(sketch);
  return {
    count: sketch.count,
    nulls: sketch.nulls,
    nans: sketch.nans,
    min: sketch.min,
    max: sketch.max,
    mean: n > 0 && !infinite ? figure(sketch.mean) : null,
    std: n > 1 && !infinite ? figure(Math.sqrt(sketch.m2 / (n - 1))) : null,
    histogram: histogramOf(sketch),
  };
}

const quantileLevels: Record<(typeof quantileNames)[number], number> = {
  p1: 0.01,
  p5: 0.05,
  p10: 0.1,
  p25: 0.25,
  p50: 0.5,
  p75: 0.75,
  p90: 0.9,
  p95: 0.95,
  p99: 0.99,
};

/**
 * A score column's summary: a column's, plus p1 … p99 at DuckDB's `quantile_cont` positions ((n − 1)·p),
 * interpolated linearly within the bucket holding that position and clamped to [min, max] — within one
 * bucket of the exact value (7 mantissa bits: 1/128 of the value's octave).
 */
export function summarizeScore(sketch: ColumnSketch): ScoreSummary {
  const { ids, counts, total } = bucketsOf(sketch);
  const quantiles = {} as ScoreSummary['quantiles'];
  for (const name of quantileNames) {
    if (total === 0) {
      quantiles[name] = null;
      continue;
    }
    const position = (total - 1) * quantileLevels[name];
    let before = 0;
    let i = 0;
    while (i < ids.length - 1 && before + counts[i]! <= position) before += counts[i++]!;
    const lo = bucketLow(ids[i]!, sketch.bits);
    const hi = bucketHigh(ids[i]!, sketch.bits);
    const within = Math.min(1, Math.max(0, (position - before + 0.5) / counts[i]!));
    let value = Number.isFinite(hi) && Number.isFinite(lo) ? lo + within * (hi - lo) : lo;
    if (sketch.min !== null) value = Math.max(value, sketch.min);
    if (sketch.max !== null) value = Math.min(value, sketch.max);
    quantiles[name] = figure(value);
  }
  return { ...summarizeColumn(sketch), quantiles };
}

/** Mean |Δ|, Pearson's correlation and (both in [0, 1]) the share on the same side of the threshold. */
export function summarizeAgreement(sketch: AgreementSketch): AgreementSummary {
  const rows = sketch.rows;
  const spread = sketch.m2X * sketch.m2Y;
  return {
    rows,
    meanAbsDiff: rows > 0 ? figure(sketch.sumAbsDiff / rows) : null,
    correlation: rows > 1 && spread > 0 ? figure(sketch.cXY / Math.sqrt(spread)) : null,
    ...(sketch.unit && rows > 0
      ? { sameSide: { threshold: sketch.threshold, share: sketch.sameSide / rows } }
      : {}),
  };
}

const mapValues = <A, B>(record: Record<string, A>, f: (a: A) => B): Record<string, B> =>
  Object.fromEntries(Object.entries(record).map(([k, v]) => [k, f(v)]));

/** `_report.json` from a job's merged statistics. */
export function buildRunReport(input: {
  jobId: string;
  specDigest: string;
  createdAt: string;
  rows: RunReport['rows'];
  models: RunReport['models'];
  stats: SegmentStats;
  quality?: QualityResult;
}): RunReport {
  return {
    jobId: input.jobId,
    specDigest: input.specDigest,
    createdAt: input.createdAt,
    rows: input.rows,
    models: input.models,
    features: mapValues(input.stats.features, summarizeColumn),
    scores: mapValues(input.stats.scores, summarizeScore),
    agreement: mapValues(input.stats.agreement, (columns) => mapValues(columns, summarizeAgreement)),
    ...(input.quality ? { quality: input.quality } : {}),
  };
}
