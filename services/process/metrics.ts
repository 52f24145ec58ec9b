import { type Server, createServer } from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Log } from '../../jobs/ports/log.js';
import type { FinishedOutcome, JobCounts, JobStore } from '../../jobs/ports/job-store.js';
import { type Metrics, scoreStages } from '../../jobs/ports/metrics.js';
import { jobStatusSchema } from '../../schemas/job-record.js';
import { readConfig } from '../../schemas/config.js';
import type { Queue } from 'bullmq';
import { deviceClasses } from '../../schemas/device-class.js';
import type { PipelineQueues } from '../queue/queues.js';

/**
 * The process's one Prometheus registry, with prom-client's default process and event-loop metrics
 * (`process_cpu_seconds_total`, `nodejs_eventloop_lag_seconds`, …). One per process, passed in, never
 * prom-client's global one: tests run several in one process.
 */
export function makeMetricsRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return registry;
}

/** How a chunk attempt ended: the processor reports the first two, BullMQ's `failed` event the others. */
const chunkOutcomes = ['committed', 'superseded', 'retried', 'failed'] as const;
const webhookOutcomes = ['delivered', 'pending', 'failed', 'disabled', 'refused'] as const;

/** A worker's series: the {@link Metrics} port processors report to, plus what the queue's events tell. */
export interface WorkerMetrics extends Metrics {
  /** A chunk's attempt threw: BullMQ runs it again (`retried: true`) or has given up on it. */
  chunkFailed(retried: boolean): void;
  /** One inference call ran `rows` rows on `device` (`cpu`, `webgpu:0`, …) and kept it busy `seconds`. */
  inference(device: string, rows: number, seconds: number): void;
}

/** The window `quiver_device_busy_ratio` looks back over. */
const BUSY_WINDOW_MS = 60_000;

/**
 * Share of the last minute each device's inference thread spent in `run()` (runs counted as they end; a
 * device seen for less than a minute is measured over the time since it was first seen).
 */
function makeBusyWindow(now: () => number = () => performance.now()) {
  const devices = new Map<string, { firstMs: number; runs: Array<{ endMs: number; seconds: number }> }>();
  const prune = (runs: Array<{ endMs: number }>, from: number): void => {
    let drop = 0;
    while (drop < runs.length && runs[drop]!.endMs < from) drop++;
    runs.splice(0, drop);
  };
  return {
    add(device: string, seconds: number): void {
      const at = now();
      const entry = devices.get(device) ?? { firstMs: at - seconds * 1000, runs: [] };
      devices.set(device, entry);
      entry.runs.push({ endMs: at, seconds });
      prune(entry.runs, at - BUSY_WINDOW_MS);
    },
    ratios(): Array<[device: string, ratio: number]> {
      const at = now();
      return [...devices].map(([device, entry]) => {
        prune(entry.runs, at - BUSY_WINDOW_MS);
        const span = Math.min(BUSY_WINDOW_MS, at - entry.firstMs) / 1000;
        const busy = entry.runs.reduce((s, run) => s + run.seconds, 0);
        return [device, span > 0 ? Math.min(1, busy / span) : 0];
      });
    },
  };
}

/**
 * `quiver_rows_scored_total`, `quiver_rows_rejected_total`, `quiver_chunks_total{outcome}`,
 * `quiver_chunk_duration_seconds` (committed chunks, buckets up to an hour),
 * `quiver_webhook_deliveries_total{outcome}` (one per attempt, by the delivery's status after it) and
 * `quiver_webhook_delivery_seconds`, on `registry`. Every outcome is there from the start, at 0, so a rate
 * over it never reads "no data".
 */
export function makeWorkerMetrics(registry: Registry): WorkerMetrics {
  const registers = [registry];
  const rowsScored = new Counter({
    name: 'quiver_rows_scored_total',
    help: 'Rows scored and committed.',
    registers,
  });
  const rowsRejected = new Counter({
    name: 'quiver_rows_rejected_total',
    help: 'Rows refused (invalid input) in committed chunks.',
    registers,
  });
  const chunks = new Counter({
    name: 'quiver_chunks_total',
    help: 'Chunk attempts by how they ended: committed, superseded, retried, failed.',
    labelNames: ['outcome'] as const,
    registers,
  });
  const chunkSeconds = new Histogram({
    name: 'quiver_chunk_duration_seconds',
    help: 'Wall time of committed chunk attempts.',
    buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600],
    registers,
  });
  const deliveries = new Counter({
    name: 'quiver_webhook_deliveries_total',
    help: 'Webhook attempts by the delivery status after them: delivered, pending (retried), failed, disabled, refused.',
    labelNames: ['outcome'] as const,
    registers,
  });
  const deliverySeconds = new Histogram({
    name: 'quiver_webhook_delivery_seconds',
    help: 'Time of one webhook attempt, request to answer (or error).',
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers,
  });
  const stageSeconds = new Counter({
    name: 'quiver_stage_seconds_total',
    help: 'Seconds chunk attempts spent per stage: read (input fetch), decode, map (rows into tensors), infer (model run), write (output segments), commit.',
    labelNames: ['stage'] as const,
    registers,
  });
  const storageBytes = new Counter({
    name: 'quiver_storage_bytes_total',
    help: 'Bytes chunk attempts read (input, through storage or in place) and wrote (output parts, markers).',
    labelNames: ['direction'] as const,
    registers,
  });
  const batchRows = new Histogram({
    name: 'quiver_batch_rows',
    help: 'Rows per inference call, by device.',
    labelNames: ['device'] as const,
    buckets: [1, 16, 64, 256, 1024, 4096, 16384, 65536, 262144],
    registers,
  });
  const busySeconds = new Counter({
    name: 'quiver_device_busy_seconds_total',
    help: 'Seconds each device’s inference thread spent in the model’s run().',
    labelNames: ['device'] as const,
    registers,
  });
  const busy = makeBusyWindow();
  new Gauge({
    name: 'quiver_device_busy_ratio',
    help: 'Share of the last minute each device’s inference thread spent in run() (runs counted as they end).',
    labelNames: ['device'] as const,
    registers,
    collect() {
      for (const [device, ratio] of busy.ratios()) this.labels(device).set(ratio);
    },
  });
  for (const outcome of chunkOutcomes) chunks.labels(outcome).inc(0);
  for (const outcome of webhookOutcomes) deliveries.labels(outcome).inc(0);
  for (const stage of scoreStages) stageSeconds.labels(stage).inc(0);
  for (const direction of ['read', 'written']) storageBytes.labels(direction).inc(0);
  return {
    rowsScored(rows, rejected) {
      rowsScored.inc(rows);
      rowsRejected.inc(rejected);
    },
    chunkFinished(outcome, seconds) {
      chunks.labels(outcome).inc();
      if (outcome === 'committed') chunkSeconds.observe(seconds);
    },
    chunkFailed(retried) {
      chunks.labels(retried ? 'retried' : 'failed').inc();
    },
    webhookAttempt(outcome, seconds) {
      deliveries.labels(outcome).inc();
      deliverySeconds.observe(seconds);
    },
    stageSeconds(stage, seconds) {
      stageSeconds.labels(stage).inc(seconds);
    },
    storageBytes(direction, bytes) {
      storageBytes.labels(direction).inc(bytes);
    },
    inference(device, rows, seconds) {
      batchRows.labels(device).observe(rows);
      busySeconds.labels(device).inc(seconds);
      busy.add(device, seconds);
    },
  };
}

/** How long a running job may go without progress before `quiver_jobs_stalled` counts it. */
export const STALLED_AFTER_MS = 15 * 60_000;

/**
 * `quiver_jobs{status}`, `quiver_jobs_finished_total{outcome}` and `quiver_jobs_stalled` (running jobs
 * without a chunk or segment accepted for 15 minutes), read from the job store at scrape time (one read
 * per scrape): served by the API and the scheduler, like the queue series. The finished totals are kept in
 * Redis, so they never reset when a process restarts and every process serving them tells the same.
 */
export function registerJobMetrics(registry: Registry, store: Pick<JobStore, 'counts'>): void {
  let reading: Promise<JobCounts> | undefined;
  // The three series of one scrape share one read: a scrape starts every collect at once, so they all find
  // it in flight; the next scrape reads again.
  const counts = (): Promise<JobCounts> => {
    reading ??= store
      .counts({ stalledSince: new Date(Date.now() - STALLED_AFTER_MS) })
      .finally(() => (reading = undefined));
    return reading;
  };
  const registers = [registry];
  new Gauge({
    name: 'quiver_jobs',
    help: 'Jobs by status, every tenant.',
    labelNames: ['status'] as const,
    registers,
    async collect() {
      const { byStatus } = await counts();
      for (const status of jobStatusSchema.options) this.labels(status).set(byStatus[status]);
    },
  });
  const outcomes: FinishedOutcome[] = ['succeeded', 'failed', 'cancelled', 'expired'];
  new Counter({
    name: 'quiver_jobs_finished_total',
    help: 'Jobs that reached a terminal status, by it (kept in Redis: never resets).',
    labelNames: ['outcome'] as const,
    registers,
    async collect() {
      const { finished } = await counts();
      this.reset();
      for (const outcome of outcomes) this.labels(outcome).inc(finished[outcome]);
    },
  });
  new Gauge({
    name: 'quiver_jobs_stalled',
    help: 'Running jobs that have had no chunk or segment accepted for 15 minutes.',
    registers,
    async collect() {
      this.set((await counts()).stalled);
    },
  });
}

/** The queue states `quiver_queue_jobs` shows: disjoint, so their sum is everything the queue holds. */
const queueStates = ['waiting', 'prioritized', 'delayed', 'active', 'failed'] as const;

/** Age in seconds of the oldest job waiting to start in `queue` (see {@link registerQueueMetrics}); 0 if none. */
async function oldestWaitingSeconds(queue: Queue): Promise<number> {
  const heads = await queue.getJobs(['waiting', 'prioritized'], 0, 0, true);
  const oldest = Math.min(...heads.map((job) => job.timestamp));
  return Number.isFinite(oldest) ? Math.max(0, (Date.now() - oldest) / 1000) : 0;
}

/**
 * `quiver_queue_jobs{queue,state}` and `quiver_queue_oldest_waiting_seconds{queue}`, read from Redis at
 * scrape time. Served by the API and the scheduler, which run even when the worker pool is scaled to zero.
 * The oldest waiting job is the oldest of the FIFO list's head and the prioritized set's next job (BullMQ
 * orders that set by priority, so an older low-priority job behind it is not seen); 0 when none waits.
 * Chunks are shown per device class (`queue="score-cpu"`, `"score-gpu"`, `"score-any"`) and in total
 * (`queue="score"`: the sum, and the oldest, over the classes): a query across queues leaves one out.
 */
export function registerQueueMetrics(
  registry: Registry,
  queues: Pick<PipelineQueues, 'depths' | 'plan' | 'scoreByClass' | 'finalize' | 'deliver'>,
): void {
  new Gauge({
    name: 'quiver_queue_jobs',
    help: 'Jobs in each queue by state (waiting excludes prioritized).',
    labelNames: ['queue', 'state'] as const,
    registers: [registry],
    async collect() {
      const depths = await queues.depths();
      this.reset();
      for (const [queue, depth] of Object.entries(depths)) {
        // `depths()` counts prioritized jobs among the waiting ones (what autoscaling follows).
        const counts = { ...depth, waiting: depth.waiting - depth.prioritized };
        for (const state of queueStates) this.labels(queue, state).set(counts[state]);
      }
    },
  });
  new Gauge({
    name: 'quiver_queue_oldest_waiting_seconds',
    help: 'Age of the oldest job waiting to start in each queue (0 when none waits).',
    labelNames: ['queue'] as const,
    registers: [registry],
    async collect() {
      const measured = { plan: queues.plan, finalize: queues.finalize, deliver: queues.deliver };
      const [stages, classes] = await Promise.all([
        Promise.all(
          Object.entries(measured).map(
            async ([name, queue]) => [name, await oldestWaitingSeconds(queue)] as const,
          ),
        ),
        Promise.all(
          deviceClasses.map(
            async (c) => [`score-${c}`, await oldestWaitingSeconds(queues.scoreByClass[c])] as const,
          ),
        ),
      ]);
      this.reset();
      for (const [queue, age] of [...stages, ...classes]) this.labels(queue).set(age);
      this.labels('score').set(Math.max(...classes.map(([, age]) => age)));
    },
  });
}

/** `QUIVER_METRICS_PORT`: the port a worker or scheduler serves `/metrics` on, or `off`. */
export function metricsPortFromEnv(env: NodeJS.ProcessEnv): number | 'off' {
  return readConfig(env, ['QUIVER_METRICS_PORT']).QUIVER_METRICS_PORT;
}

export interface MetricsServer {
  /** The port it listens on once listening (the real one when 0 was asked for); undefined if it could not. */
  readonly listening: Promise<number | undefined>;
  /** Stops listening and ends open connections. Safe to call twice. */
  close(): Promise<void>;
}

/**
 * `GET /metrics` of `registry` on `port` (all interfaces), for a worker or the scheduler; no key, as
 * scrapers have none. A port that cannot be bound (taken by another process) is logged and the process
 * runs on without metrics: scoring matters more than its statistics.
 */
export function serveMetrics(registry: Registry, port: number, log: Log): MetricsServer {
  const server: Server = createServer((request, response) => {
    if (request.method !== 'GET' || request.url?.split('?')[0] !== '/metrics') {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found: GET /metrics\n');
      return;
    }
    registry.metrics().then(
      (body) => response.writeHead(200, { 'content-type': registry.contentType }).end(body),
      (error: unknown) => {
        log.error({ err: error }, 'metrics scrape failed');
        response.writeHead(500, { 'content-type': 'text/plain' }).end('metrics could not be read\n');
      },
    );
  });
  const listening = new Promise<number | undefined>((resolve) => {
    server.once('error', (error) => {
      log.error({ err: error, port }, 'metrics server could not listen; running without /metrics');
      resolve(undefined);
    });
    server.listen(port, () => {
      const address = server.address();
      const bound = typeof address === 'object' && address ? address.port : port;
      log.info({ port: bound }, 'metrics served on /metrics');
      resolve(bound);
    });
  });
  let closing: Promise<void> | undefined;
  return {
    listening,
    close() {
      closing ??= listening.then(
        () =>
          new Promise<void>((resolve) => {
            if (!server.listening) return resolve();
            server.close(() => resolve());
            server.closeAllConnections();
          }),
      );
      return closing;
    },
  };
}
