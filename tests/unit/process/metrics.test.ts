import { describe, expect, it } from 'vitest';
import { InvalidConfig } from '../../../schemas/errors/invalid-config.js';
import {
  makeMetricsRegistry,
  makeWorkerMetrics,
  metricsPortFromEnv,
  serveMetrics,
} from '../../../services/process/metrics.js';
import { parseScrape, sampleValue } from '../../helpers/prometheus-scrape.js';
import { makeRecordingLog } from '../../helpers/recording-log.js';

describe('makeWorkerMetrics', () => {
  it('starts every outcome at 0 and moves each series by exactly what was reported', async () => {
    const registry = makeMetricsRegistry();
    const metrics = makeWorkerMetrics(registry);
    const before = parseScrape(await registry.metrics());
    for (const outcome of ['committed', 'superseded', 'retried', 'failed']) {
      expect(sampleValue(before, 'quiver_chunks_total', { outcome })).toBe(0);
    }
    for (const outcome of ['delivered', 'pending', 'failed', 'disabled', 'refused']) {
      expect(sampleValue(before, 'quiver_webhook_deliveries_total', { outcome })).toBe(0);
    }

    metrics.rowsScored(4_096, 3);
    metrics.rowsScored(904, 0);
    metrics.chunkFinished('committed', 2.5);
    metrics.chunkFinished('committed', 4_000);
    metrics.chunkFinished('superseded', 1);
    metrics.chunkFailed(true);
    metrics.chunkFailed(true);
    metrics.chunkFailed(false);
    metrics.webhookAttempt('pending', 0.2);
    metrics.webhookAttempt('delivered', 1.5);

    const after = parseScrape(await registry.metrics());
    expect(sampleValue(after, 'quiver_rows_scored_total')).toBe(5_000);
    expect(sampleValue(after, 'quiver_rows_rejected_total')).toBe(3);
    expect(sampleValue(after, 'quiver_chunks_total', { outcome: 'committed' })).toBe(2);
    expect(sampleValue(after, 'quiver_chunks_total', { outcome: 'superseded' })).toBe(1);
    expect(sampleValue(after, 'quiver_chunks_total', { outcome: 'retried' })).toBe(2);
    expect(sampleValue(after, 'quiver_chunks_total', { outcome: 'failed' })).toBe(1);
    expect(sampleValue(after, 'quiver_webhook_deliveries_total', { outcome: 'pending' })).toBe(1);
    expect(sampleValue(after, 'quiver_webhook_deliveries_total', { outcome: 'delivered' })).toBe(1);
    expect(sampleValue(after, 'quiver_webhook_deliveries_total', { outcome: 'failed' })).toBe(0);

    // Only committed attempts are timed; one took longer than the last bucket (an hour).
    const [durations] = after.get('quiver_chunk_duration_seconds')?.metrics ?? [];
    expect(after.get('quiver_chunk_duration_seconds')?.type).toBe('HISTOGRAM');
    expect(Number(durations?.count)).toBe(2);
    expect(Number(durations?.sum)).toBe(4_002.5);
    expect(durations?.buckets?.['1']).toBe('0');
    expect(durations?.buckets?.['5']).toBe('1');
    expect(durations?.buckets?.['3600']).toBe('1');
    const [webhook] = after.get('quiver_webhook_delivery_seconds')?.metrics ?? [];
    expect(Number(webhook?.count)).toBe(2);
    expect(Number(webhook?.sum)).toBeCloseTo(1.7, 10);
  });

  it('carries prom-client’s default process and event-loop metrics', async () => {
    const scrape = parseScrape(await makeMetricsRegistry().metrics());
    expect(sampleValue(scrape, 'process_cpu_seconds_total')).toBeGreaterThan(0);
    expect(scrape.has('process_resident_memory_bytes')).toBe(true);
    expect(scrape.has('nodejs_eventloop_lag_seconds')).toBe(true);
    expect(scrape.has('nodejs_eventloop_lag_p99_seconds')).toBe(true);
  });
});

describe('serveMetrics', () => {
  it('serves GET /metrics with the registry’s content type, 404 elsewhere, and closes twice safely', async () => {
    const registry = makeMetricsRegistry();
    makeWorkerMetrics(registry).rowsScored(7, 1);
    const server = serveMetrics(registry, 0, makeRecordingLog());
    const port = await server.listening;
    try {
      const response = await fetch(`http://127.0.0.1:${port}/metrics`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe(registry.contentType);
      expect(registry.contentType).toContain('text/plain; version=0.0.4');
      expect(sampleValue(parseScrape(await response.text()), 'quiver_rows_scored_total')).toBe(7);
      expect((await fetch(`http://127.0.0.1:${port}/`)).status).toBe(404);
    } finally {
      await server.close();
      await server.close();
    }
    await expect(fetch(`http://127.0.0.1:${port}/metrics`)).rejects.toThrow();
  });

  it('logs a port it cannot bind and runs on without metrics', async () => {
    const registry = makeMetricsRegistry();
    const first = serveMetrics(registry, 0, makeRecordingLog());
    const port = await first.listening;
    const log = makeRecordingLog();
    const second = serveMetrics(registry, port ?? 0, log);
    try {
      expect(await second.listening).toBeUndefined();
      expect(log.withMessage('metrics server could not listen; running without /metrics')).toHaveLength(1);
    } finally {
      await second.close();
      await first.close();
    }
  });
});

describe('metricsPortFromEnv', () => {
  it('reads QUIVER_METRICS_PORT: 9464 by default, a port, or off; refuses anything else', () => {
    expect(metricsPortFromEnv({})).toBe(9464);
    expect(metricsPortFromEnv({ QUIVER_METRICS_PORT: '9500' })).toBe(9500);
    expect(metricsPortFromEnv({ QUIVER_METRICS_PORT: 'OFF' })).toBe('off');
    expect(() => metricsPortFromEnv({ QUIVER_METRICS_PORT: '70000' })).toThrow(InvalidConfig);
    expect(() => metricsPortFromEnv({ QUIVER_METRICS_PORT: 'http' })).toThrow(/QUIVER_METRICS_PORT/);
  });
});
