import { describe, expect, it } from 'vitest';
import { makeAgreementAccumulator, mergeAgreement } from '../../../jobs/report/agreement-sketch.js';
import { makeColumnAccumulator, mergeSketches } from '../../../jobs/report/column-sketch.js';
import { evaluateQuality, psi, rebin } from '../../../jobs/report/quality-gates.js';
import {
  buildRunReport,
  histogramOf,
  summarizeAgreement,
  summarizeColumn,
  summarizeScore,
} from '../../../jobs/report/run-report.js';
import { bucketHigh, bucketLow, bucketOf } from '../../../jobs/report/value-buckets.js';
import { BaselineInvalid } from '../../../jobs/report/errors/baseline-invalid.js';
import { seededRandom as random } from '../../helpers/seeded-random.js';

function normal(n: number, mean: number, sd: number, seed: number): Float32Array {
  const next = random(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++)
    out[i] = mean + sd * Math.sqrt(-2 * Math.log(next() + 1e-12)) * Math.cos(2 * Math.PI * next());
  return out;
}

function reference(values: ArrayLike<number>) {
  const xs = Array.from(values);
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const m2 = xs.reduce((a, b) => a + (b - mean) ** 2, 0);
  return { mean, std: Math.sqrt(m2 / (xs.length - 1)), min: Math.min(...xs), max: Math.max(...xs) };
}

describe('run report statistics', () => {
  const values = normal(20_000, -2, 3, 7);

  it('summarizes a column as a two-pass reference does, whatever the split into calls', () => {
    const whole = makeColumnAccumulator(3);
    whole.observe(values);
    const a = makeColumnAccumulator(3);
    const b = makeColumnAccumulator(3);
    a.observe(values, { offset: 0, length: 7_001 });
    b.observe(values, { offset: 7_001, length: 5_000 });
    b.observe(values, { offset: 12_001, length: 7_999 });
    const merged = mergeSketches(a.sketch(), b.sketch());
    expect(merged.buckets).toEqual(whole.sketch().buckets);
    const ref = reference(values);
    const summary = summarizeColumn(merged);
    expect(summary.count).toBe(values.length);
    expect(summary.min).toBe(ref.min);
    expect(summary.max).toBe(ref.max);
    expect(Math.abs(summary.mean! - ref.mean)).toBeLessThan(1e-12 * Math.abs(ref.mean) + 1e-12);
    expect(Math.abs(summary.std! - ref.std)).toBeLessThan(1e-12 * ref.std);
  });

  it('counts every value in exactly the histogram bin its edges say', () => {
    const acc = makeColumnAccumulator(3);
    acc.observe(values);
    const { edges, counts } = histogramOf(acc.sketch());
    expect(counts.length).toBeGreaterThan(10);
    expect(counts.length).toBeLessThanOrEqual(20);
    const brute = counts.map((_, i) => values.filter((v) => v >= edges[i]! && v < edges[i + 1]!).length);
    expect(counts).toEqual(brute);
    expect(counts.reduce((x, y) => x + y, 0)).toBe(values.length);
    // Every edge is a bucket edge: a bucket's bounds around each value.
    for (const v of [values[0]!, values[1]!, -1e-30, 0, 5e-324, 1, -1])
      expect(bucketLow(bucketOf(v, 3), 3) <= v && v < bucketHigh(bucketOf(v, 3), 3)).toBe(true);
  });

  it('places quantiles within one bucket of the exact sample quantile', () => {
    const acc = makeColumnAccumulator(7);
    acc.observe(values);
    const summary = summarizeScore(acc.sketch());
    const sorted = Float64Array.from(values).sort();
    const exact = (p: number) => {
      const h = (sorted.length - 1) * p;
      const lo = Math.floor(h);
      return sorted[lo]! + (h - lo) * (sorted[Math.min(lo + 1, sorted.length - 1)]! - sorted[lo]!);
    };
    for (const [name, p] of [
      ['p1', 0.01],
      ['p50', 0.5],
      ['p99', 0.99],
    ] as const) {
      const value = summary.quantiles[name]!;
      expect(Math.abs(value - exact(p))).toBeLessThanOrEqual(Math.abs(exact(p)) / 64);
    }
  });

  it('measures agreement as the brute-force figures, merged over any split', () => {
    const x = Float32Array.from(normal(5_000, 0.5, 0.1, 3), (v) => Math.min(1, Math.max(0, v)));
    const y = Float32Array.from(x, (v, i) => Math.min(1, Math.max(0, v + (i % 7) / 100 - 0.03)));
    const a = makeAgreementAccumulator(0.5);
    const b = makeAgreementAccumulator(0.5);
    a.observe(x, y, { offset: 0, length: 1_234 });
    b.observe(x, y, { offset: 1_234, length: 5_000 - 1_234 });
    const summary = summarizeAgreement(mergeAgreement(a.sketch(), b.sketch()));
    const mx = x.reduce((s, v) => s + v, 0) / x.length;
    const my = y.reduce((s, v) => s + v, 0) / y.length;
    let cxy = 0;
    let vx = 0;
    let vy = 0;
    let abs = 0;
    let same = 0;
    x.forEach((v, i) => {
      cxy += (v - mx) * (y[i]! - my);
      vx += (v - mx) ** 2;
      vy += (y[i]! - my) ** 2;
      abs += Math.abs(v - y[i]!);
      if (v >= 0.5 === y[i]! >= 0.5) same += 1;
    });
    expect(summary.rows).toBe(5_000);
    expect(summary.correlation).toBeCloseTo(cxy / Math.sqrt(vx * vy), 12);
    expect(summary.meanAbsDiff).toBeCloseTo(abs / 5_000, 12);
    expect(summary.sameSide).toEqual({ threshold: 0.5, share: same / 5_000 });
    // A value outside [0, 1] drops the same-side share.
    const c = makeAgreementAccumulator(0.5);
    c.observe(Float32Array.of(0.2, 1.5), Float32Array.of(0.3, 0.9));
    expect(summarizeAgreement(c.sketch()).sameSide).toBeUndefined();
  });

  it('re-bins a run exactly on a baseline, and PSI tells a +3σ shift from the same distribution', () => {
    const baseline = makeColumnAccumulator(3);
    baseline.observe(values);
    const histogram = histogramOf(baseline.sketch());
    const same = makeColumnAccumulator(3);
    same.observe(normal(20_000, -2, 3, 99));
    const shifted = makeColumnAccumulator(3);
    shifted.observe(Float32Array.from(normal(20_000, -2, 3, 99), (v) => v + 9));
    const rebinned = rebin(same.sketch(), histogram.edges);
    expect(rebinned.below + rebinned.above + rebinned.counts.reduce((a, b) => a + b, 0)).toBe(20_000);
    expect(psi(histogram, rebinned)).toBeLessThan(0.02);
    expect(psi(histogram, rebin(shifted.sketch(), histogram.edges))).toBeGreaterThan(1);
    // Hand computation on two bins: base 50/50, current 80/20 (nothing outside).
    const hand = psi({ edges: [0, 1, 2], counts: [50, 50] }, { below: 0, counts: [80, 20], above: 0 });
    expect(hand).toBeCloseTo((0.8 - 0.5) * Math.log(0.8 / 0.5) + (0.2 - 0.5) * Math.log(0.2 / 0.5), 12);
    expect(() => rebin(same.sketch(), [0, 0.3, 1], 'f1')).toThrow(BaselineInvalid);
  });

  it('gates PSI and null shares, failing or warning as the spec says', () => {
    const acc = makeColumnAccumulator(3);
    acc.observe(values);
    const report = buildRunReport({
      jobId: 'base',
      specDigest: 'd'.repeat(64),
      createdAt: '2026-12-02T00:00:00.000Z',
      rows: { input: values.length, scored: values.length, rejected: 0 },
      models: { champion: { uri: 'file:///m.onnx' }, challengers: [] },
      stats: { features: { f: acc.sketch() }, scores: {}, agreement: {} },
    });
    const shifted = makeColumnAccumulator(3);
    const withNulls = new Uint8Array(Math.ceil(values.length / 8)).fill(0xff);
    withNulls[0] = 0; // eight nulls
    shifted.observe(
      Float32Array.from(values, (v) => v + 9),
      { validity: withNulls },
    );
    const stats = { features: { f: shifted.sketch() }, scores: {}, agreement: {} };
    const failed = evaluateQuality(
      stats,
      { maxPsi: 0.25, maxNullFraction: 1e-4, baseline: 'x' },
      {
        uri: 'file:///base/_report.json',
        report,
      },
    );
    expect(failed.passed).toBe(false);
    expect(failed.onViolation).toBe('fail');
    expect(failed.violations.map((v) => [v.column, v.check])).toEqual([
      ['f', 'psi'],
      ['f', 'nullFraction'],
    ]);
    expect(failed.nullFraction.f).toBeCloseTo(8 / values.length, 12);
    const first = evaluateQuality(
      stats,
      { maxPsi: 0.25, onViolation: 'warn', baseline: 'previous' },
      undefined,
    );
    expect(first).toMatchObject({ passed: true, onViolation: 'warn', violations: [] });
    expect(first.baseline).toBeUndefined();
  });
});
