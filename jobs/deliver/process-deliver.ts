import type { DeliveryAttempt, DeliveryRecord } from '../../schemas/delivery.js';
import type { JobRecord } from '../../schemas/job-record.js';
import { webhookEventSchema, webhookJobOf } from '../../schemas/webhook-event.js';
import type { WebhookRequest } from '../ports/webhook-sender.js';
import type { DeliveryLedger } from '../ports/delivery-ledger.js';
import type { DeliverPayload } from '../ports/pipeline-queue.js';
import type { Log } from '../ports/log.js';
import { type Metrics, noMetrics } from '../ports/metrics.js';
import {
  type AttemptOutcome,
  type DeliveryDecision,
  decideNextAttempt,
  type RetryPolicy,
} from './retry-policy.js';
import { type Clock, systemClock } from '../ports/clock.js';

/** What {@link processDeliver} needs; passed in, never global. */
export interface DeliverDeps {
  ledger: DeliveryLedger;
  jobs: { get(id: string): Promise<JobRecord | undefined> };
  /** Signs and POSTs one attempt through the SSRF guard; resolves with what came of it, never throws for it. */
  send(request: WebhookRequest): Promise<AttemptOutcome>;
  /** Queues attempt `payload.attempt` to run after `delayMs`. */
  schedule(payload: DeliverPayload, delayMs: number): Promise<void>;
  policy: RetryPolicy;
  /** Default `() => new Date()`. */
  now?: Clock;
  /** Jitter source. Default `Math.random`. */
  random?: () => number;
  log: Log;
  /** Where attempts are counted (the process's Prometheus registry). Absent: nothing is counted. */
  metrics?: Metrics;
}

/** The body of a delivery: the same bytes on every attempt, as long as the job record stays as it ended. */
export function webhookBodyOf(delivery: DeliveryRecord, job: JobRecord): string {
  return JSON.stringify(
    webhookEventSchema.parse({
      type: delivery.event,
      timestamp: delivery.createdAt,
      data: webhookJobOf(job),
    }),
  );
}

/**
 * Makes attempt `payload.attempt` of a webhook delivery: builds the event from the job record, signs it
 * with the job's secret(s), sends it, records the attempt and queues the next one when the retry policy
 * says so. An attempt already made, or one for a delivery no longer pending, is not sent again: BullMQ may
 * run a job twice (stalled-job recovery, a re-announce), receivers should see each attempt once.
 */
export async function processDeliver(deps: DeliverDeps, payload: DeliverPayload): Promise<void> {
  const now = deps.now ?? systemClock;
  const { jobId, deliveryId, attempt } = payload;
  const log = deps.log.child({ jobId, deliveryId, attempt });
  const delivery = await deps.ledger.get(jobId, deliveryId);
  if (!delivery) return log.info({}, 'webhook delivery not found; attempt dropped');
  const made = delivery.attempts.length;
  if (attempt === made && delivery.status === 'pending' && delivery.nextAttemptAt !== undefined) {
    // Recorded, but the run stopped before queueing the next attempt (crash, Redis blip): queue it now.
    const delayMs = Math.max(0, Date.parse(delivery.nextAttemptAt) - now().getTime());
    return deps.schedule({ jobId, deliveryId, attempt: attempt + 1 }, delayMs);
  }
  if (attempt !== made + 1 || delivery.status !== 'pending') {
    return log.info(
      { status: delivery.status, attemptsMade: made },
      'webhook attempt already made or delivery settled; skipped',
    );
  }

  const started = now();
  const job = await deps.jobs.get(jobId);
  const webhook = job?.spec.webhook;
  let outcome: AttemptOutcome | undefined;
  if (job && webhook) {
    const secrets = [
      webhook.secret,
      ...(webhook.previousSecret === undefined ? [] : [webhook.previousSecret]),
    ];
    outcome = await deps.send({
      url: delivery.url,
      id: deliveryId,
      body: webhookBodyOf(delivery, job),
      secrets,
    });
  }
  const finished = now();
  // Without the job (deleted by retention) there is nothing to sign or send: the delivery fails.
  const decision: DeliveryDecision = outcome
    ? decideNextAttempt(outcome, attempt - delivery.scheduleFrom + 1, deps.policy, deps.random)
    : { status: 'failed' };
  const record: DeliveryAttempt = {
    attempt,
    at: started.toISOString(),
    durationMs: Math.max(0, finished.getTime() - started.getTime()),
    ...attemptDetails(outcome),
  };
  const nextAttemptAt =
    decision.status === 'pending' ? new Date(finished.getTime() + decision.delayMs).toISOString() : undefined;
  const recorded = await deps.ledger.recordAttempt(jobId, deliveryId, record, {
    status: decision.status,
    ...(nextAttemptAt === undefined ? {} : { nextAttemptAt }),
  });
  log.info(
    {
      event: delivery.event,
      statusCode: record.statusCode,
      error: record.error,
      status: decision.status,
      nextAttemptAt,
      recorded,
    },
    'webhook attempt',
  );
  // An attempt another run recorded first is that run's to count.
  if (recorded) (deps.metrics ?? noMetrics).webhookAttempt(decision.status, record.durationMs / 1000);
  if (recorded && decision.status === 'pending') {
    await deps.schedule({ jobId, deliveryId, attempt: attempt + 1 }, decision.delayMs);
  }
}

/** The attempt record's status code, error and Retry-After for an outcome. */
function attemptDetails(
  outcome: AttemptOutcome | undefined,
): Pick<DeliveryAttempt, 'statusCode' | 'error' | 'retryAfterSeconds'> {
  if (!outcome) return { error: 'the job record no longer exists; nothing to send' };
  if (outcome.kind !== 'response') return { error: outcome.error };
  return {
    statusCode: outcome.statusCode,
    ...(outcome.error === undefined ? {} : { error: outcome.error }),
    ...(outcome.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: outcome.retryAfterSeconds }),
  };
}
