import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { superviseDevices } from '../../services/worker/device-supervisor.js';
import { supervisedWorkerOptions } from '../helpers/worker-processes.js';
import { parseScrape, sampleValue } from '../helpers/prometheus-scrape.js';
import { makeRecordingLog } from '../helpers/recording-log.js';

/** The scrape of `port`, retried until the process listens (or `timeoutMs` passes). */
async function scrapeWhenUp(port: number, timeoutMs = 30_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const response = await fetch(`http://127.0.0.1:${port}/metrics`);
      if (response.ok) return await response.text();
    } catch (error) {
      if (Date.now() > deadline) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('worker /metrics (real device processes)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'quiver-worker-metrics-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('each device process serves its own port (QUIVER_METRICS_PORT + index); the supervisor none', async () => {
    // Two ports no other test asks for: the default 9464 may be taken by a worker of another test.
    const base = 20_000 + Math.floor(Math.random() * 20_000) * 2;
    const options = supervisedWorkerOptions(
      dir,
      [
        { kind: 'cpu', index: 0 },
        { kind: 'cpu', index: 0 },
      ],
      { shutdownGraceMs: 10_000 },
    );
    const signals = new EventEmitter();
    const done = superviseDevices(options, {
      signals,
      env: {
        ...process.env,
        QUIVER_PREFIX: `{test-${randomUUID().slice(0, 8)}}`,
        QUIVER_MODEL_CACHE: join(dir, 'models'),
        QUIVER_TUNING_CACHE: join(dir, 'tuning.json'),
        QUIVER_METRICS_PORT: String(base),
      },
      output: 'ignore',
      log: makeRecordingLog(),
    });
    try {
      for (const port of [base, base + 1]) {
        const scrape = parseScrape(await scrapeWhenUp(port));
        expect(sampleValue(scrape, 'quiver_rows_scored_total')).toBe(0);
        expect(sampleValue(scrape, 'quiver_chunks_total', { outcome: 'committed' })).toBe(0);
        expect(scrape.has('nodejs_eventloop_lag_p99_seconds')).toBe(true);
        // Queue depths come from the API and the scheduler: a fleet of workers would multiply the reads.
        expect(scrape.has('quiver_queue_jobs')).toBe(false);
      }
    } finally {
      signals.emit('SIGTERM', 'SIGTERM');
      expect(await done).toBe(0);
    }
    await expect(fetch(`http://127.0.0.1:${base}/metrics`)).rejects.toThrow();
  }, 60_000);
});
