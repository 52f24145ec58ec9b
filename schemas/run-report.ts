import { z } from 'zod';

// Not chunk-commit's: segment markers carry these statistics, so that module imports this one.
const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/);
const count = z.number().int().nonnegative();
/** JSON has no NaN or infinity: such a figure is written null. */
const figure = z.number().nullable();

/**
 * The fixed buckets every column's values are counted in, whatever the data: a bucket is the set of
 * float64 values whose sign, 11 exponent bits and top `bits` mantissa bits are equal, taken so that each
 * bucket is a half-open interval `[lo, hi)` on the real line (for a negative value, the bits of `|v|` less
 * one unit in the last place). Bucket ids are signed: `v >= 0` (and `-0`) → `(high word of v) >>> (20 - bits)`,
 * `v < 0` → `-(q + 1)` with `q` that of `|v|` less one ulp. The edges are exact binary numbers, so counts
 * merge exactly over chunks and any baseline's edges (which are bucket edges) re-bin a run's counts exactly.
 */
export const sketchBitsSchema = z.union([z.literal(3), z.literal(7)]);

/** Runs of consecutive buckets: `[firstBucketId, [count, count, …]]`, ascending, counts > 0 at both ends. */
export const bucketRunsSchema = z.array(z.tuple([z.number().int(), z.array(count)]));

/**
 * One column's statistics over some rows, mergeable exactly (moments by Chan's update, bucket counts by
 * addition): what a segment marker carries for each feature and score column. `count` values are the
 * non-null, non-NaN ones; min, max, mean and m2 are over those.
 */
export const columnSketchSchema = z.object({
  rows: count,
  nulls: count,
  nans: count,
  count,
  min: figure,
  max: figure,
  mean: z.number(),
  /** Sum of squared deviations from the mean (Welford's M2). */
  m2: z.number(),
  bits: sketchBitsSchema,
  buckets: bucketRunsSchema,
});
export type ColumnSketch = z.infer<typeof columnSketchSchema>;

/**
 * How a challenger's score column compares with the champion's over the rows both scored, mergeable
 * exactly: co-moments for the correlation, |Δ| summed, and for the threshold the rows on the same side.
 * `unit` stays true while every value of both lies in [0, 1].
 */
export const agreementSketchSchema = z.object({
  rows: count,
  sumAbsDiff: z.number(),
  meanX: z.number(),
  meanY: z.number(),
  m2X: z.number(),
  m2Y: z.number(),
  cXY: z.number(),
  threshold: z.number(),
  sameSide: count,
  unit: z.boolean(),
});
export type AgreementSketch = z.infer<typeof agreementSketchSchema>;

/** What a segment saw: its rows' feature columns, score columns (challengers' as `<name>.<column>`) and agreement. */
export const segmentStatsSchema = z.object({
  features: z.record(z.string(), columnSketchSchema),
  scores: z.record(z.string(), columnSketchSchema),
  /** challenger name → champion output column → agreement. */
  agreement: z.record(z.string(), z.record(z.string(), agreementSketchSchema)),
});
export type SegmentStats = z.infer<typeof segmentStatsSchema>;

/** Bin `i` holds the values `edges[i] <= v < edges[i + 1]`; `counts.length === edges.length - 1`. */
export const histogramSchema = z.object({ edges: z.array(z.number()), counts: z.array(count) });
export type Histogram = z.infer<typeof histogramSchema>;

/** One column in `_report.json`. `std` is the sample standard deviation (DuckDB's `stddev`). */
export const columnSummarySchema = z.object({
  count,
  nulls: count,
  nans: count,
  min: figure,
  max: figure,
  mean: figure,
  std: figure,
  histogram: histogramSchema,
});
export type ColumnSummary = z.infer<typeof columnSummarySchema>;

export const quantileNames = ['p1', 'p5', 'p10', 'p25', 'p50', 'p75', 'p90', 'p95', 'p99'] as const;
/** Score columns add quantiles, interpolated within one bucket (7 mantissa bits: within 0.8 %). */
export const scoreSummarySchema = columnSummarySchema.extend({
  quantiles: z.record(z.enum(quantileNames), figure),
});
export type ScoreSummary = z.infer<typeof scoreSummarySchema>;

export const agreementSummarySchema = z.object({
  rows: count,
  meanAbsDiff: figure,
  correlation: figure,
  /** With both columns in [0, 1] throughout: the share of rows on the same side of `threshold`. */
  sameSide: z.object({ threshold: z.number(), share: figure }).optional(),
});
export type AgreementSummary = z.infer<typeof agreementSummarySchema>;

/** One limit a column broke (or, under `warn`, would have). */
export const qualityViolationSchema = z.object({
  column: z.string(),
  kind: z.enum(['feature', 'score']),
  check: z.enum(['psi', 'nullFraction']),
  value: z.number(),
  limit: z.number(),
});
export type QualityViolation = z.infer<typeof qualityViolationSchema>;

export const qualityResultSchema = z.object({
  /** The report the run was compared with; absent when the job has no baseline (first night). */
  baseline: z.string().optional(),
  onViolation: z.enum(['fail', 'warn']),
  psi: z.object({ features: z.record(z.string(), z.number()), scores: z.record(z.string(), z.number()) }),
  nullFraction: z.record(z.string(), z.number()),
  violations: z.array(qualityViolationSchema),
  passed: z.boolean(),
});
export type QualityResult = z.infer<typeof qualityResultSchema>;

/** `_report.json`: written by finalize beside the manifest, from every accepted segment's statistics. */
export const runReportSchema = z.object({
  jobId: z.string(),
  specDigest: z.string(),
  createdAt: z.string(),
  rows: z.object({ input: count, scored: count, rejected: count }),
  models: z.object({
    champion: z.object({ uri: z.string(), sha256: sha256Hex.optional() }),
    challengers: z.array(z.object({ name: z.string(), uri: z.string(), sha256: sha256Hex.optional() })),
  }),
  features: z.record(z.string(), columnSummarySchema),
  scores: z.record(z.string(), scoreSummarySchema),
  agreement: z.record(z.string(), z.record(z.string(), agreementSummarySchema)),
  quality: qualityResultSchema.optional(),
});
export type RunReport = z.infer<typeof runReportSchema>;
