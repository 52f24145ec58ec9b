import { availableParallelism } from 'node:os';
import { afterAll, expect, it } from 'vitest';
import { modelPath } from '../../scripts/lib/models.js';
import type { HostTensor } from '../../services/scoring/inference-host.js';
import {
  makeWorkerInferenceHost,
  type WorkerInferenceHost,
} from '../../services/scoring/worker-inference-host.js';

// Timing-sensitive: this project runs alone, after the unit and integration suites, so other test files'
// CPU load cannot stretch the timer it measures.

function featureFeed(rows: number, width: number, seed: number): Record<string, HostTensor> {
  const data = new Float32Array(rows * width);
  let state = seed;
  for (let i = 0; i < data.length; i++) {
    state = (Math.imul(state, 1_103_515_245) + 12_345) >>> 0;
    data[i] = state / 2 ** 32;
  }
  return { features: { type: 'float32', data, dims: [rows, width] } };
}

const open: WorkerInferenceHost[] = [];
async function openHost(
  options: Parameters<typeof makeWorkerInferenceHost>[0],
): Promise<WorkerInferenceHost> {
  const host = await makeWorkerInferenceHost(options);
  open.push(host);
  return host;
}
afterAll(async () => {
  await Promise.all(open.splice(0).map((host) => host.close()));
});

it('keeps the event loop responsive through 10 s of compute-heavy scoring', async () => {
  // The worker's ONNX Runtime threads leave one core to the main thread, as a scoring process must for
  // its own decode and I/O: the test is about the blocking run living off the main thread, not about
  // oversubscribed cores (on a 2-core CI box both ORT threads spin on both cores).
  const intraOpThreads = Math.max(1, availableParallelism() - 1);
  const host = await openHost({ modelPath: await modelPath('compute-heavy'), intraOpThreads });
  const rows = 2_048;
  let maxLagMs = 0;
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    maxLagMs = Math.max(maxLagMs, now - last - 5);
    last = now;
  }, 5);
  const began = performance.now();
  let runs = 0;
  try {
    while (performance.now() - began < 10_000) {
      const outputs = await host.run(featureFeed(rows, 64, runs + 1));
      expect(outputs.score?.dims).toEqual([rows, 1]);
      runs++;
    }
  } finally {
    clearInterval(timer);
  }
  const elapsedMs = performance.now() - began;
  console.info(
    `compute-heavy: ${runs} runs of ${rows} rows in ${elapsedMs.toFixed(0)} ms, max timer lag ${maxLagMs.toFixed(1)} ms`,
  );
  expect(elapsedMs).toBeGreaterThanOrEqual(10_000);
  expect(runs).toBeGreaterThan(1);
  expect(maxLagMs).toBeLessThan(50);
}, 60_000);
