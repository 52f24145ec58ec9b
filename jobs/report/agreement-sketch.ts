import type { AgreementSketch } from '../../schemas/run-report.js';
import { SketchMismatch } from './errors/sketch-mismatch.js';

type Scores = Float32Array | Float64Array;

export interface AgreementAccumulator {
  /** Rows `[offset, offset + length)` of the champion's scores `x` and the challenger's `y`. */
  observe(x: Scores, y: Scores, options?: { offset?: number; length?: number }): void;
  sketch(): AgreementSketch;
  reset(): void;
}

/** An empty agreement around `threshold`. */
export function emptyAgreement(threshold: number): AgreementSketch {
  return {
    rows: 0,
    sumAbsDiff: 0,
    meanX: 0,
    meanY: 0,
    m2X: 0,
    m2Y: 0,
    cXY: 0,
    threshold,
    sameSide: 0,
    unit: true,
  };
}

/**
 * How a challenger's score agrees with the champion's, row by row: each call's co-moments are taken about
 * its own means (two passes over the call's rows) and merged by Chan's update, so the correlation is as
 * exact as a two-pass one whatever the split into calls and segments.
 */
export function makeAgreementAccumulator(threshold: number): AgreementAccumulator {
  let total = emptyAgreement(threshold);
  return {
    observe(x, y, options = {}) {
      const offset = options.offset ?? 0;
      const length = options.length ?? Math.min(x.length, y.length) - offset;
      if (length <= 0) return;
      let sx = 0;
      let sy = 0;
      let abs = 0;
      let same = 0;
      let unit = total.unit;
      for (let i = offset; i < offset + length; i++) {
        const a = x[i]!;
        const b = y[i]!;
        sx += a;
        sy += b;
        abs += Math.abs(a - b);
        if (a >= threshold === b >= threshold) same += 1;
        // NaN fails both comparisons, so it leaves [0, 1] too.
        if (!(a >= 0 && a <= 1 && b >= 0 && b <= 1)) unit = false;
      }
      const mx = sx / length;
      const my = sy / length;
      let m2x = 0;
      let m2y = 0;
      let cxy = 0;
      for (let i = offset; i < offset + length; i++) {
        const dx = x[i]! - mx;
        const dy = y[i]! - my;
        m2x += dx * dx;
        m2y += dy * dy;
        cxy += dx * dy;
      }
      total = mergeAgreement(total, {
        rows: length,
        sumAbsDiff: abs,
        meanX: mx,
        meanY: my,
        m2X: m2x,
        m2Y: m2y,
        cXY: cxy,
        threshold,
        sameSide: same,
        unit,
      });
    },
    sketch: () => ({ ...total }),
    reset() {
      total = emptyAgreement(threshold);
    },
  };
}

/** Both agreements' rows together (Chan's parallel update of the means and co-moments). */
export function mergeAgreement(a: AgreementSketch, b: AgreementSketch): AgreementSketch {
  if (a.threshold !== b.threshold) throw new SketchMismatch('threshold', a.threshold, b.threshold);
  if (a.rows === 0) return { ...b, unit: a.unit && b.unit };
  if (b.rows === 0) return { ...a, unit: a.unit && b.unit };
  const n = a.rows + b.rows;
  const dx = b.meanX - a.meanX;
  const dy = b.meanY - a.meanY;
  const w = (a.rows * b.rows) / n;
  return {
    rows: n,
    sumAbsDiff: a.sumAbsDiff + b.sumAbsDiff,
    meanX: a.meanX + (dx * b.rows) / n,
    meanY: a.meanY + (dy * b.rows) / n,
    m2X: a.m2X + b.m2X + dx * dx * w,
    m2Y: a.m2Y + b.m2Y + dy * dy * w,
    cXY: a.cXY + b.cXY + dx * dy * w,
    threshold: a.threshold,
    sameSide: a.sameSide + b.sameSide,
    unit: a.unit && b.unit,
  };
}
