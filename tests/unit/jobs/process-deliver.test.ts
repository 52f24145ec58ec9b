import { describe, expect, it } from 'vitest';
import { type DeliverDeps, processDeliver } from '../../../jobs/deliver/process-deliver.js';
import type { AttemptOutcome } from '../../../jobs/deliver/retry-policy.js';
import type { DeliveryState } from '../../../jobs/ports/delivery-ledger.js';
import type { DeliverPayload } from '../../../jobs/ports/pipeline-queue.js';
import type { WebhookRequest } from '../../../jobs/ports/webhook-sender.js';
import { fakeJobSpec } from '../../helpers/memory-ports/fake-job-spec.js';
import { makeMemoryDeliveryLedger } from '../../helpers/memory-ports/memory-delivery-ledger.js';
import { makeMemoryJobStore } from '../../helpers/memory-ports/memory-job-store.js';
import { makeRecordingLog } from '../../helpers/recording-log.js';

const NOW = new Date('2026-03-01T12:00:00.000Z');
const SECRET = 'whsec_c2VjcmV0';

/** A succeeded job with a webhook, its pending delivery with `made` attempts, and deps answering `outcomes`. */
async function delivery(outcomes: AttemptOutcome[], made = 0, state: Partial<DeliveryState> = {}) {
  const store = makeMemoryJobStore({ now: () => NOW });
  const { record } = await store.create(
    fakeJobSpec({ webhook: { url: 'https://hooks.example.com/q', secret: SECRET } }),
  );
  for (const to of ['planning', 'finalizing', 'succeeded'] as const) await store.transition(record.id, to);
  const ledger = makeMemoryDeliveryLedger({ now: () => NOW });
  const deliveryId = 'msg_test';
  ledger.put({
    id: deliveryId,
    jobId: record.id,
    event: 'job.succeeded',
    url: 'https://hooks.example.com/q',
    status: 'pending',
    createdAt: NOW.toISOString(),
    updatedAt: NOW.toISOString(),
    attempts: Array.from({ length: made }, (_, i) => ({
      attempt: i + 1,
      at: NOW.toISOString(),
      durationMs: 1,
      statusCode: 500,
    })),
    scheduleFrom: 1,
    ...state,
  });
  const sent: WebhookRequest[] = [];
  const scheduled: Array<{ payload: DeliverPayload; delayMs: number }> = [];
  const deps: DeliverDeps = {
    ledger,
    jobs: store,
    send(request) {
      sent.push(request);
      return Promise.resolve(outcomes.shift() ?? { kind: 'network-error', error: 'no outcome left' });
    },
    schedule(payload, delayMs) {
      scheduled.push({ payload, delayMs });
      return Promise.resolve();
    },
    policy: { scheduleMs: [1_000, 60_000], jitter: 0 },
    now: () => NOW,
    random: () => 0.5,
    log: makeRecordingLog(),
  };
  const payload = (attempt: number): DeliverPayload => ({ jobId: record.id, deliveryId, attempt });
  return { deps, store, ledger, sent, scheduled, payload, jobId: record.id, deliveryId };
}

describe('processDeliver', () => {
  it('records a failed attempt and schedules the next one per the policy', async () => {
    const d = await delivery([{ kind: 'response', statusCode: 503, error: 'HTTP 503' }]);
    await processDeliver(d.deps, d.payload(1));

    expect(d.sent).toHaveLength(1);
    expect(d.sent[0]).toMatchObject({
      url: 'https://hooks.example.com/q',
      id: d.deliveryId,
      secrets: [SECRET],
    });
    expect(JSON.parse(d.sent[0]!.body)).toMatchObject({ type: 'job.succeeded', data: { id: d.jobId } });
    const state = await d.ledger.get(d.jobId, d.deliveryId);
    expect(state?.attempts).toEqual([
      { attempt: 1, at: NOW.toISOString(), durationMs: 0, statusCode: 503, error: 'HTTP 503' },
    ]);
    expect(state?.status).toBe('pending');
    expect(state?.nextAttemptAt).toBe(new Date(NOW.getTime() + 1_000).toISOString());
    expect(d.scheduled).toEqual([{ payload: d.payload(2), delayMs: 1_000 }]);
  });

  it('a 2xx delivers and stops', async () => {
    const d = await delivery([{ kind: 'response', statusCode: 204 }], 1);
    await processDeliver(d.deps, d.payload(2));
    const state = await d.ledger.get(d.jobId, d.deliveryId);
    expect(state?.status).toBe('delivered');
    expect(state?.nextAttemptAt).toBeUndefined();
    expect(state?.attempts.map((a) => a.statusCode)).toEqual([500, 204]);
    expect(d.scheduled).toEqual([]);
  });

  it('fails once the schedule is spent', async () => {
    const d = await delivery([{ kind: 'network-error', error: 'ECONNRESET' }], 2);
    await processDeliver(d.deps, d.payload(3));
    const state = await d.ledger.get(d.jobId, d.deliveryId);
    expect(state?.status).toBe('failed');
    expect(state?.attempts.at(-1)).toMatchObject({ attempt: 3, error: 'ECONNRESET' });
    expect(d.scheduled).toEqual([]);
  });

  it('honours Retry-After over a shorter scheduled delay', async () => {
    const d = await delivery([{ kind: 'response', statusCode: 429, retryAfterSeconds: 30 }]);
    await processDeliver(d.deps, d.payload(1));
    expect(d.scheduled).toEqual([{ payload: d.payload(2), delayMs: 30_000 }]);
  });

  it('an attempt already made is not sent again', async () => {
    const d = await delivery([{ kind: 'response', statusCode: 200 }], 2);
    await processDeliver(d.deps, d.payload(1));
    expect(d.sent).toEqual([]);
    expect((await d.ledger.get(d.jobId, d.deliveryId))?.attempts).toHaveLength(2);
  });

  it('an attempt recorded but never followed up queues the next one for its remaining delay', async () => {
    const due = new Date(NOW.getTime() + 4_000).toISOString();
    const d = await delivery([], 1, { nextAttemptAt: due });
    await processDeliver(d.deps, d.payload(1));
    expect(d.sent).toEqual([]);
    expect(d.scheduled).toEqual([{ payload: d.payload(2), delayMs: 4_000 }]);
  });

  it('a delivery whose job is gone fails without sending', async () => {
    const d = await delivery([{ kind: 'response', statusCode: 200 }]);
    await d.store.delete(d.jobId);
    await processDeliver(d.deps, d.payload(1));
    expect(d.sent).toEqual([]);
    expect((await d.ledger.get(d.jobId, d.deliveryId))?.status).toBe('failed');
  });
});
