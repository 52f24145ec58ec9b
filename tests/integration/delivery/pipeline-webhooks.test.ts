import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { submitJob } from '../../../jobs/submit-job.js';
import type { JobSpecInput } from '../../../schemas/job-spec.js';
import type { WebhookEvent } from '../../../schemas/webhook-event.js';
import { compileDeliveryOptions } from '../../../services/delivery/delivery-options.js';
import { makeFileStorage } from '../../../services/storage/file-storage.js';
import { modelPath } from '../../../scripts/lib/models.js';
import { featureColumns, startPipeline, type TestPipeline } from '../../helpers/pipeline.js';
import { startWebhookReceiver, type WebhookReceiver } from '../../helpers/webhook-receiver.js';
import { lastRecords } from '../../helpers/recording-log.js';

const secret = `whsec_${randomBytes(24).toString('base64')}`;

/** id + f0..f63 as CSV. */
function csvOf(rows: number): string {
  const lines = [['id', ...featureColumns].join(',')];
  for (let id = 0; id < rows; id++)
    lines.push([id, ...featureColumns.map((_, j) => ((id * 7 + j) % 101) / 101)].join(','));
  return `${lines.join('\n')}\n`;
}

describe('webhooks of jobs run by the pipeline (real Redis, files, ONNX Runtime, a loopback receiver)', () => {
  let dir: string;
  let root: string;
  let pipeline: TestPipeline;
  let hook: WebhookReceiver;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'quiver-webhooks-'));
    root = `file://${dir}`;
    const storage = makeFileStorage();
    await storage.write(`${root}/models/mlp.onnx`, await readFile(await modelPath('tabular-mlp')));
    await storage.write(`${root}/in/a.csv`, new TextEncoder().encode(csvOf(1_000)));
    hook = await startWebhookReceiver({ secrets: [secret] });
    pipeline = await startPipeline({
      storage,
      deliveries: compileDeliveryOptions({ allow: '127.0.0.1/32', retrySchedule: '50ms,100ms,200ms' }),
    });
  }, 60_000);

  afterAll(async () => {
    await pipeline?.close();
    await hook?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const spec = (columns: string[], out: string): JobSpecInput => ({
    name: `webhooks-${out}`,
    input: { uri: `${root}/in/`, format: 'csv' },
    model: {
      uri: `${root}/models/mlp.onnx`,
      inputs: { features: { columns } },
      outputs: { score: { column: 'score' } },
    },
    output: { uri: `${root}/${out}/`, format: 'parquet', passthrough: ['id'] },
    webhook: { url: hook.url, secret },
    labels: { run: out },
  });

  const submit = (body: JobSpecInput) =>
    submitJob(
      {
        store: pipeline.store,
        queue: pipeline.queues,
      },
      body,
    );

  /** The verified events the receiver got for `jobId`. */
  const eventsOf = (jobId: string): WebhookEvent[] =>
    hook.received
      .filter((r) => (r.event as WebhookEvent | undefined)?.data.id === jobId)
      .map((r) => r.event as WebhookEvent);

  async function eventFor(jobId: string): Promise<WebhookEvent> {
    const deadline = Date.now() + 20_000;
    while (eventsOf(jobId).length === 0) {
      if (Date.now() > deadline) throw new Error(`no webhook for ${jobId}: ${lastRecords(pipeline.log)}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return eventsOf(jobId)[0]!;
  }

  it('sends job.succeeded, signed, once the job has succeeded', async () => {
    const { record } = await submit(spec(featureColumns, 'ok'));
    const done = await pipeline.settle(record.id);
    expect(done.status, JSON.stringify(done.error)).toBe('succeeded');
    const event = await eventFor(record.id);
    expect(event).toMatchObject({
      type: 'job.succeeded',
      data: {
        id: record.id,
        status: 'succeeded',
        name: 'webhooks-ok',
        labels: { run: 'ok' },
        progress: { rowsScored: 1_000, rowsRejected: 0 },
        output: { manifestUri: expect.stringMatching(/_manifest\.json$/) as unknown },
      },
    });
    expect(JSON.stringify(event)).not.toContain(secret);
    const deliveries = await pipeline.deliveries!.list(record.id);
    expect(deliveries).toMatchObject([
      { event: 'job.succeeded', status: 'delivered', attempts: [{ statusCode: 200 }] },
    ]);
    // finalize and the terminal hook both announce: still one message.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(eventsOf(record.id)).toHaveLength(1);
  });

  it('sends job.failed with the error code when a feature column is missing', async () => {
    const columns = [...featureColumns.slice(0, -1), 'f_missing'];
    const { record } = await submit(spec(columns, 'missing'));
    const done = await pipeline.settle(record.id);
    expect(done.status).toBe('failed');
    const event = await eventFor(record.id);
    expect(event.type).toBe('job.failed');
    expect(event.data.status).toBe('failed');
    expect(event.data.error?.code).toBe(done.error?.code);
    expect(event.data.error?.code).toBe('FEATURE_COLUMN_MISSING');
    expect(event.data.error?.message).toContain('f_missing');
  });
});
