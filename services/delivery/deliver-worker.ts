import { type ConnectionOptions, Worker } from 'bullmq';
import { type DeliverDeps, processDeliver } from '../../jobs/deliver/process-deliver.js';
import type { DeliveryLedger } from '../../jobs/ports/delivery-ledger.js';
import type { DeliverPayload } from '../../jobs/ports/pipeline-queue.js';
import { type PipelineQueues, queueNames } from '../queue/queues.js';
import type { DeliveryConfig } from './delivery-options.js';
import { sendWebhook } from './send-webhook.js';
import type { Resolve } from './ssrf-guard.js';

export interface DeliverWorkerOptions {
  connection: ConnectionOptions;
  /** The deployment's hash-tagged prefix, the queues' own. */
  prefix: string;
  /** Where the next attempt is queued (`makeQueues`). */
  queues: Pick<PipelineQueues, 'enqueueDelivery'>;
  /** Where attempts are recorded: `makeRedisDeliveries(…)`. */
  ledger: DeliveryLedger;
  /** Where the job's record (the event's data, the webhook's secrets) is read: the job store. */
  jobs: DeliverDeps['jobs'];
  /** Allowlist, retry policy, timeout and concurrency (`deliveryConfigFromEnv`). */
  config: DeliveryConfig;
  /** Hostname resolution for the SSRF guard. Default the system resolver. */
  resolve?: Resolve;
  log: DeliverDeps['log'];
  /** Where attempts are counted. Default: nothing is. */
  metrics?: DeliverDeps['metrics'];
  /** How long an attempt's lock lasts without renewal. Default 30 s (BullMQ renews it while it runs). */
  lockDurationMs?: number;
}

/**
 * The `deliver` queue's BullMQ worker: each job is one attempt ({@link processDeliver}). A receiver's
 * failures are retried on the delivery's own schedule, each attempt its own delayed job; a throw here
 * (Redis unreachable) is retried by BullMQ with backoff, and attempts already recorded are not sent again.
 */
export function makeDeliverWorker(options: DeliverWorkerOptions): Worker<DeliverPayload> {
  const { config, ledger, queues, log } = options;
  const send = {
    allowlist: config.allowlist,
    timeoutMs: config.timeoutMs,
    ...(options.resolve ? { resolve: options.resolve } : {}),
  };
  const deps: DeliverDeps = {
    ledger,
    jobs: options.jobs,
    send: (request) => sendWebhook(request, send),
    schedule: (payload, delayMs) => queues.enqueueDelivery(payload, delayMs),
    policy: config.policy,
    log,
    ...(options.metrics ? { metrics: options.metrics } : {}),
  };
  const worker = new Worker<DeliverPayload>(queueNames.deliver, (job) => processDeliver(deps, job.data), {
    connection: options.connection,
    prefix: options.prefix,
    concurrency: config.concurrency,
    lockDuration: options.lockDurationMs ?? 30_000,
  });
  worker.on('failed', (job, error) =>
    log.warn({ ...job?.data, err: error, tries: job?.attemptsMade }, 'webhook attempt could not run'),
  );
  worker.on('error', (error) => log.error({ err: error }, 'worker error'));
  return worker;
}
