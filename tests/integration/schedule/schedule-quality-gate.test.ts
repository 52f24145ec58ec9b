import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSchedule } from '../../../jobs/schedule/run-schedule.js';
import { parseSchedule } from '../../../jobs/schedule/parse-schedule.js';
import type { JobRecord } from '../../../schemas/job-record.js';
import { runReportSchema } from '../../../schemas/run-report.js';
import type { WebhookEvent } from '../../../schemas/webhook-event.js';
import type { ScheduleRuns } from '../../../jobs/ports/schedule-runs.js';
import type { ScheduleStore } from '../../../jobs/ports/schedule-store.js';
import { compileDeliveryOptions } from '../../../services/delivery/delivery-options.js';
import { makeRedisScheduleRuns } from '../../../services/scheduler/schedule-runs.js';
import { makeRedisScheduleStore } from '../../../services/scheduler/schedule-store.js';
import { makeFileStorage } from '../../../services/storage/file-storage.js';
import { modelPath } from '../../../scripts/lib/models.js';
import { featureColumns, startPipeline, type TestPipeline } from '../../helpers/pipeline.js';
import { lastRecords } from '../../helpers/recording-log.js';
import { startWebhookReceiver, type WebhookReceiver } from '../../helpers/webhook-receiver.js';

const ROWS = 20_000;
const TENANT = 'acme';
const NIGHT_1 = new Date('2026-03-01T02:30:00Z');
const NIGHT_2 = new Date('2026-03-02T02:30:00Z');
const secret = `whsec_${randomBytes(24).toString('base64')}`;

/**
 * `quality.baseline: "previous"` on a nightly schedule (real Redis, files, ONNX Runtime, a loopback webhook
 * receiver): the second night's input has f2 shifted by +3σ, so its PSI against the first night's report
 * breaks `maxPsi`. Under `fail` the run fails naming f2; under `warn` it succeeds and its webhook says so.
 */
describe('a schedule whose second night drifts fails its quality gate against the previous night', () => {
  const storage = makeFileStorage();
  let pipeline: TestPipeline;
  let schedules: ScheduleStore;
  let runs: ScheduleRuns;
  let dir: string;
  let root: string;
  let model: string;
  let hook: WebhookReceiver;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'quiver-schedule-gate-'));
    root = `file://${dir}`;
    model = `file://${await modelPath('tabular-mlp')}`;
    // Seeded normal features (Box–Muller), σ of f2 is 3; the second night is the same rows with f2 + 9.
    const duck = await DuckDBInstance.create(':memory:');
    const db = await duck.connect();
    await db.run(`SELECT setseed(0.25)`);
    const features = featureColumns
      .map(
        (c, j) =>
          `(sqrt(-2 * ln(random() + 1e-12)) * cos(2 * pi() * random()) * ${1 + (j % 5)} + ${j % 3})::FLOAT AS ${c}`,
      )
      .join(', ');
    const night = (date: string) => `${dir}/in/dt=${date}/input.parquet`;
    await mkdir(`${dir}/in/dt=2026-03-01`, { recursive: true });
    await mkdir(`${dir}/in/dt=2026-03-02`, { recursive: true });
    await db.run(
      `COPY (SELECT range::BIGINT AS id, ${features} FROM range(${ROWS})) TO '${night('2026-03-01')}' (FORMAT parquet)`,
    );
    await db.run(
      `COPY (SELECT * REPLACE (f2 + 9 AS f2) FROM '${night('2026-03-01')}') TO '${night('2026-03-02')}' (FORMAT parquet)`,
    );
    db.closeSync();
    duck.closeSync();

    hook = await startWebhookReceiver({ secrets: [secret] });
    // Finalize finds the previous night through the schedule's runs, as the worker process wires them.
    pipeline = await startPipeline({
      storage,
      deliveries: compileDeliveryOptions({ allow: '127.0.0.1/32', retrySchedule: '50ms,100ms,200ms' }),
      scheduleRuns: true,
    });
    schedules = makeRedisScheduleStore(pipeline.redis, pipeline.prefix);
    runs = makeRedisScheduleRuns(pipeline.redis, pipeline.prefix);
  }, 120_000);

  afterAll(async () => {
    await pipeline?.close();
    await hook?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** Saves the nightly schedule `name` with the given gate, reading each night's `dt={date}` folder. */
  const nightly = async (name: string, onViolation: 'fail' | 'warn') =>
    (
      await schedules.put(
        TENANT,
        parseSchedule({
          name,
          cron: '30 2 * * *',
          job: {
            input: { uri: `${root}/in/dt={date}/input.parquet`, format: 'parquet' },
            model: { uri: model, inputs: { features: { columns: featureColumns } } },
            output: { uri: `${root}/${name}/dt={date}/`, passthrough: ['id'] },
            batch: { rows: 4096, chunkRows: 10_000 },
            quality: { baseline: 'previous', maxPsi: 0.25, onViolation },
            webhook: { url: hook.url, secret },
          },
        }),
      )
    ).record;

  /** Runs the schedule's tick at `at` (as `quiver schedule run --at` does) and waits for its job to end. */
  async function runNight(schedule: Awaited<ReturnType<typeof nightly>>, at: Date): Promise<JobRecord> {
    const deps = { store: pipeline.store, queue: pipeline.queues, schedules, runs, now: () => new Date() };
    const { record } = await runSchedule(deps, schedule, at);
    expect(record.idempotencyKey).toBe(`schedule:${schedule.name}:${at.toISOString().slice(0, 16)}+00:00`);
    return pipeline.settle(record.id, 120_000);
  }

  const readReport = async (uri: string | undefined) =>
    runReportSchema.parse(JSON.parse(new TextDecoder().decode(await storage.read(uri!))));
  const successOf = (job: JobRecord) => job.output.reportUri!.replace(/_report\.json$/, '_SUCCESS');

  async function webhookOf(jobId: string): Promise<WebhookEvent> {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const found = hook.received.find((r) => (r.event as WebhookEvent | undefined)?.data.id === jobId);
      if (found) return found.event as WebhookEvent;
      if (Date.now() > deadline) throw new Error(`no webhook for ${jobId}: ${lastRecords(pipeline.log)}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** The first night: no earlier run, so no baseline; it succeeds with a report. */
  async function firstNight(schedule: Awaited<ReturnType<typeof nightly>>): Promise<JobRecord> {
    const job = await runNight(schedule, NIGHT_1);
    expect(job.status, JSON.stringify(job.error)).toBe('succeeded');
    expect(job.spec.input.uri).toBe(`${root}/in/dt=2026-03-01/input.parquet`);
    const report = await readReport(job.output.reportUri);
    expect(report.quality?.baseline).toBeUndefined();
    expect(report.quality?.passed).toBe(true);
    await expect(storage.read(successOf(job))).resolves.toBeDefined();
    return job;
  }

  it('under fail: the second night fails QUALITY_GATE_FAILED naming f2, against the first night', async () => {
    const schedule = await nightly('nightly-fail', 'fail');
    const first = await firstNight(schedule);

    const second = await runNight(schedule, NIGHT_2);
    expect(second.spec.input.uri).toBe(`${root}/in/dt=2026-03-02/input.parquet`);
    expect(second.status).toBe('failed');
    expect(second.error?.code).toBe('QUALITY_GATE_FAILED');
    expect(second.error?.message).toContain('feature "f2"');
    expect(second.error?.message).not.toContain('feature "f1"');
    expect(second.output.manifestUri).toBeUndefined();
    await expect(storage.read(successOf(second))).rejects.toThrow();
    const report = await readReport(second.output.reportUri);
    // The baseline was the first night's report, found through the schedule's runs.
    expect(report.quality?.baseline).toBe(first.output.reportUri);
    expect(report.quality?.passed).toBe(false);
    expect(report.quality?.psi.features.f2).toBeGreaterThan(0.25);
    expect(report.quality?.psi.features.f1).toBeLessThan(0.05);
    expect(report.quality?.violations.map((v) => [v.column, v.check])).toEqual([['f2', 'psi']]);
    const event = await webhookOf(second.id);
    expect(event.type).toBe('job.failed');
    expect(event.data.error?.code).toBe('QUALITY_GATE_FAILED');
  }, 300_000);

  it('under warn: the second night succeeds and its job.succeeded webhook carries the f2 warning', async () => {
    const schedule = await nightly('nightly-warn', 'warn');
    const first = await firstNight(schedule);

    const second = await runNight(schedule, NIGHT_2);
    expect(second.status, JSON.stringify(second.error)).toBe('succeeded');
    const warning = {
      code: 'QUALITY_GATE_WARNING',
      column: 'f2',
      check: 'psi',
      limit: 0.25,
      value: expect.any(Number) as unknown,
    };
    expect(second.warnings).toEqual([expect.objectContaining(warning)]);
    expect(second.warnings?.[0]?.value).toBeGreaterThan(0.25);
    await expect(storage.read(successOf(second))).resolves.toBeDefined();
    const report = await readReport(second.output.reportUri);
    expect(report.quality?.baseline).toBe(first.output.reportUri);
    expect(report.quality?.psi.features.f2).toBe(second.warnings?.[0]?.value);

    const event = await webhookOf(second.id);
    expect(event.type).toBe('job.succeeded');
    expect(event.data.status).toBe('succeeded');
    expect(event.data.warnings).toEqual([expect.objectContaining(warning)]);
    const firstEvent = await webhookOf(first.id);
    expect(firstEvent.data.warnings).toBeUndefined();
  }, 300_000);
});
