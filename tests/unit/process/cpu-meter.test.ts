import { describe, expect, it } from 'vitest';
import { makeProcessCpuMeter } from '../../../services/process/cpu-meter.js';

describe('makeProcessCpuMeter', () => {
  it('charges the CPU burned while measurements overlap in equal shares', () => {
    let micros = 0;
    const meter = makeProcessCpuMeter(() => micros);
    const a = meter.start();
    micros += 1_000_000; // a alone: 1 s
    const b = meter.start();
    micros += 2_000_000; // a and b: 1 s each
    expect(a.stop()).toBeCloseTo(2, 9);
    micros += 500_000; // b alone
    expect(b.stop()).toBeCloseTo(1.5, 9);
    // A stopped measure keeps its figure; CPU burned with nothing running is charged to nobody.
    micros += 4_000_000;
    expect(a.stop()).toBeCloseTo(2, 9);
    const c = meter.start();
    micros += 250_000;
    expect(c.stop()).toBeCloseTo(0.25, 9);
  });

  it('measures the real process', () => {
    const meter = makeProcessCpuMeter();
    const measure = meter.start();
    const until = performance.now() + 50;
    let spin = 0;
    while (performance.now() < until) spin += 1;
    expect(spin).toBeGreaterThan(0);
    expect(measure.stop()).toBeGreaterThan(0.02);
  });
});
