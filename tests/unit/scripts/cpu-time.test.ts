import { describe, expect, it } from 'vitest';
import { threadDelta, threadStats, type ThreadStat } from '../../../scripts/lib/cpu-time.js';

const stat = (cpuSeconds: number, minorFaults: number, name = 'node'): ThreadStat => ({
  name,
  cpuSeconds,
  minorFaults,
});

describe('threadDelta', () => {
  it('gives each thread its CPU and faults between the readings, by offset from the process id', () => {
    const before = new Map([
      [100, stat(1.5, 1000)],
      [102, stat(0.25, 10)],
      [107, stat(3, 5)],
    ]);
    const after = new Map([
      [100, stat(2, 1500)],
      [102, stat(0.25, 10)], // idle between the readings: left out
      [107, stat(3.5, 5)],
      [110, stat(0.5, 300, 'libuv-worker')], // started after the first reading: all of it counts
    ]);
    expect(threadDelta(100, before, after)).toEqual([
      { thread: 0, name: 'node', cpuSeconds: 0.5, minorFaults: 500 },
      { thread: 7, name: 'node', cpuSeconds: 0.5, minorFaults: 0 },
      { thread: 10, name: 'libuv-worker', cpuSeconds: 0.5, minorFaults: 300 },
    ]);
  });
});

describe.runIf(process.platform === 'linux')('threadStats', () => {
  it("reads this process's threads, the main thread's CPU growing with work done on it", async () => {
    const before = await threadStats(process.pid);
    const started = process.cpuUsage();
    let x = 0;
    while (process.cpuUsage(started).user < 150_000) x += Math.sqrt(x + 1);
    const after = await threadStats(process.pid);
    expect(x).toBeGreaterThan(0);
    const main = threadDelta(process.pid, before, after).find((t) => t.thread === 0);
    expect(main?.cpuSeconds).toBeGreaterThanOrEqual(0.1);
    expect(after.size).toBeGreaterThan(1); // V8's and libuv's threads too
  });

  it('is empty for a process that is not there', async () => {
    expect((await threadStats(2 ** 22 + 12345)).size).toBe(0);
  });
});
