import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ScorePayload } from '../../../jobs/ports/pipeline-queue.js';
import { loadApiConfig } from '../../../services/api/api-options.js';
import { startApiServer } from '../../../services/api/main.js';
import { makeLog } from '../../../services/process/log.js';
import { makeMetricsRegistry, registerQueueMetrics } from '../../../services/process/metrics.js';
import { redisConfigFromEnv } from '../../../services/queue/redis-connection.js';
import {
  type PipelineQueues,
  makeQueues,
  queueNames,
  scoreQueueNames,
} from '../../../services/queue/queues.js';
import { parseScrape, sampleValue } from '../../helpers/prometheus-scrape.js';
import { type ApiHarness, keys, startApi } from './api-harness.js';

describe('GET /metrics (real Redis, real BullMQ queues)', () => {
  let harness: ApiHarness;
  let queues: PipelineQueues;
  const registry = makeMetricsRegistry();

  beforeAll(async () => {
    harness = await startApi({}, { metricsRegistry: registry });
    queues = makeQueues(harness.redis, harness.prefix);
    registerQueueMetrics(registry, queues);
  });

  afterAll(async () => {
    await queues?.close();
    await harness?.close();
  });

  it('answers without a key, in the Prometheus text format, every queue and state at 0 on empty queues', async () => {
    const response = await harness.app.inject({ method: 'GET', url: '/metrics' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe(registry.contentType);
    const scrape = parseScrape(response.body);
    for (const queue of [...Object.values(queueNames), 'score-cpu', 'score-gpu', 'score-any']) {
      for (const state of ['waiting', 'prioritized', 'delayed', 'active', 'failed']) {
        expect(sampleValue(scrape, 'quiver_queue_jobs', { queue, state })).toBe(0);
      }
      expect(sampleValue(scrape, 'quiver_queue_oldest_waiting_seconds', { queue })).toBe(0);
    }
    expect(sampleValue(scrape, 'process_cpu_seconds_total')).toBeGreaterThan(0);
    expect(scrape.has('nodejs_eventloop_lag_p99_seconds')).toBe(true);
  });

  it('counts waiting, prioritized and delayed jobs apart, and ages the oldest waiting one', async () => {
    // No worker runs here: the payloads are only counted, never processed.
    const chunk = {} as ScorePayload['chunk'];
    await queues.score.add('score', { jobId: 'a', chunk }, { jobId: 'a-0', timestamp: Date.now() - 60_000 });
    await queues.score.add('score', { jobId: 'b', chunk }, { jobId: 'b-0', priority: 5 });
    await queues.score.add('score', { jobId: 'c', chunk }, { jobId: 'c-0', delay: 600_000 });
    await queues.plan.add(
      'plan',
      { jobId: 'd' },
      { jobId: 'd-plan', priority: 1, timestamp: Date.now() - 5_000 },
    );

    const scrape = parseScrape((await harness.app.inject({ method: 'GET', url: '/metrics' })).body);
    expect(sampleValue(scrape, 'quiver_queue_jobs', { queue: 'score', state: 'waiting' })).toBe(1);
    expect(sampleValue(scrape, 'quiver_queue_jobs', { queue: 'score', state: 'prioritized' })).toBe(1);
    expect(sampleValue(scrape, 'quiver_queue_jobs', { queue: 'score', state: 'delayed' })).toBe(1);
    expect(sampleValue(scrape, 'quiver_queue_jobs', { queue: 'plan', state: 'prioritized' })).toBe(1);
    expect(sampleValue(scrape, 'quiver_queue_jobs', { queue: 'plan', state: 'waiting' })).toBe(0);
    const scoreAge = sampleValue(scrape, 'quiver_queue_oldest_waiting_seconds', { queue: 'score' });
    expect(scoreAge).toBeGreaterThanOrEqual(60);
    expect(scoreAge).toBeLessThan(120);
    const planAge = sampleValue(scrape, 'quiver_queue_oldest_waiting_seconds', { queue: 'plan' });
    expect(planAge).toBeGreaterThanOrEqual(5);
    expect(planAge).toBeLessThan(60);
    expect(sampleValue(scrape, 'quiver_queue_oldest_waiting_seconds', { queue: 'finalize' })).toBe(0);
  });

  it('shows chunks per device class and in total (queue="score"), its oldest the oldest of any class', async () => {
    const chunk = {} as ScorePayload['chunk'];
    // Older than the `any` chunks queued before: the total's age is this class's.
    await queues.scoreByClass.gpu.add(
      'score',
      { jobId: 'g', chunk },
      { jobId: 'g-0', priority: 3, timestamp: Date.now() - 300_000 },
    );
    await queues.scoreByClass.cpu.add('score', { jobId: 'h', chunk }, { jobId: 'h-0', priority: 3 });
    await queues.scoreByClass.cpu.add('score', { jobId: 'h', chunk }, { jobId: 'h-1', priority: 4 });

    const scrape = parseScrape((await harness.app.inject({ method: 'GET', url: '/metrics' })).body);
    const jobs = (queue: string, state: string) => sampleValue(scrape, 'quiver_queue_jobs', { queue, state });
    expect(jobs('score-gpu', 'prioritized')).toBe(1);
    expect(jobs('score-cpu', 'prioritized')).toBe(2);
    // The chunks the test before queued went to the `any` class's queue (the BullMQ queue `score`).
    expect(scoreQueueNames.any).toBe('score');
    expect([
      jobs('score-any', 'waiting'),
      jobs('score-any', 'prioritized'),
      jobs('score-any', 'delayed'),
    ]).toEqual([1, 1, 1]);
    for (const state of ['waiting', 'prioritized', 'delayed', 'active', 'failed'])
      expect(jobs('score', state), state).toBe(
        jobs('score-cpu', state) + jobs('score-gpu', state) + jobs('score-any', state),
      );
    const age = (queue: string) => sampleValue(scrape, 'quiver_queue_oldest_waiting_seconds', { queue });
    expect(age('score-gpu')).toBeGreaterThanOrEqual(300);
    expect(age('score-any')).toBeLessThan(300);
    expect(age('score')).toBe(age('score-gpu'));
    expect(age('score-cpu')).toBeLessThan(60);
  });

  it('is not served by an API made without a registry', async () => {
    const bare = await startApi();
    try {
      expect((await bare.app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(404);
    } finally {
      await bare.close();
    }
  });

  it('is served by `quiver api` on its own port, with the queues of its prefix', async () => {
    const config = loadApiConfig([], {
      QUIVER_API_KEYS: `acme:${keys.acme}`,
      QUIVER_API_PORT: '0',
      QUIVER_API_HOST: '127.0.0.1',
      QUIVER_PREFIX: harness.prefix,
      QUIVER_REDIS_URL: redisConfigFromEnv().url,
    });
    const server = await startApiServer(config, makeLog({ level: 'silent', format: 'json' }));
    try {
      const response = await fetch(`${server.url}/metrics`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toContain('text/plain; version=0.0.4');
      const scrape = parseScrape(await response.text());
      // The jobs queued by the test before, seen through the process's own queues.
      expect(sampleValue(scrape, 'quiver_queue_jobs', { queue: 'score', state: 'delayed' })).toBe(1);
      expect(scrape.has('process_resident_memory_bytes')).toBe(true);
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });
});
