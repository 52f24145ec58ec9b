import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobViewSchema } from '../../schemas/job-record.js';
import {
  backfillReplySchema,
  scheduleDetailSchema,
  scheduleListSchema,
  scheduleViewSchema,
} from '../../schemas/schedule.js';
import { modelPath } from '../../scripts/lib/models.js';
import { makeFileStorage } from '../../services/storage/file-storage.js';
import { type ApiProcess, startApiProcess } from '../helpers/api-process.js';
import { type TestPipeline, featureColumns, startPipeline, writeDataset } from '../helpers/pipeline.js';
import { writeTenantsFile } from '../helpers/tenants-file.js';

const quiver = join(import.meta.dirname, '../../services/cli/quiver.js');

interface CliRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * `quiver schedule …` as a user runs it, against a real API process and in-process pipeline workers on the
 * same prefix: partitions `dt=<day>/` (and `dt=<day>/hour=<hh>/`) of different sizes tell which one a run
 * scored. No scheduler process: run-now and backfill submit through the API alone.
 */
describe('quiver schedule (the real binary against a real API)', () => {
  let dir: string;
  let api: ApiProcess;
  let pipeline: TestPipeline;
  let data: string;
  let model: string;
  const key = `admin-${randomBytes(12).toString('hex')}`;

  function run(args: string[]): Promise<CliRun> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [quiver, 'schedule', ...args], {
        env: { ...process.env, QUIVER_API_URL: api.url, QUIVER_API_KEY: key },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
      child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
      child.once('error', reject);
      child.once('close', (status) => resolve({ status, stdout, stderr }));
    });
  }

  /** A schedule file: `input` is the template's input URI under the data folder. */
  async function scheduleFile(
    name: string,
    fields: { cron: string; input: string; maxActiveRuns?: number },
  ): Promise<string> {
    const file = join(dir, `${name}.yaml`);
    await writeFile(
      file,
      [
        `name: ${name}`,
        `cron: "${fields.cron}"`,
        'timezone: UTC',
        `maxActiveRuns: ${fields.maxActiveRuns ?? 1}`,
        'job:',
        `  name: ${name}`,
        `  input: { uri: "${data}${fields.input}", format: parquet }`,
        '  model:',
        `    uri: ${model}`,
        `    inputs: { features: { columns: [${featureColumns.join(', ')}] } }`,
        `  output: { uri: "${pathToFileURL(join(dir, 'scores')).href}/${name}/{date}/", passthrough: [id] }`,
        '  batch: { rows: 1024 }',
        '',
      ].join('\n'),
    );
    return file;
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'quiver-cli-schedule-'));
    data = pathToFileURL(join(dir, 'data')).href + '/';
    const storage = makeFileStorage();
    // Row counts tell the partitions apart.
    await writeDataset(storage, `${data}dt=2026-01-09/`, [['part.parquet', 0, 300]]);
    await writeDataset(storage, `${data}dt=2026-01-10/`, [['part.parquet', 0, 500]]);
    await writeDataset(storage, `${data}hourly/dt=2026-01-10/hour=04/`, [['part.parquet', 0, 240]]);
    await writeDataset(storage, `${data}hourly/dt=2026-01-10/hour=05/`, [['part.parquet', 0, 120]]);
    model = pathToFileURL(await modelPath('tabular-mlp')).href;
    const tenants = join(dir, 'tenants.yaml');
    await writeTenantsFile(tenants, {
      acme: {
        keys: [key],
        admin: true,
        read: [`${pathToFileURL(dirname(fileURLToPath(model))).href}/`],
        write: [`${pathToFileURL(dir).href}/`],
      },
    });
    pipeline = await startPipeline({ storage });
    api = await startApiProcess({
      QUIVER_REDIS_URL: 'redis://127.0.0.1:6379',
      QUIVER_PREFIX: pipeline.prefix,
      QUIVER_TENANTS_FILE: tenants,
    });
  }, 120_000);

  afterAll(async () => {
    await api?.stop();
    await pipeline?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('create refuses an existing name, replace an unknown one; a bad file is exit 2 with its paths', async () => {
    const file = await scheduleFile('nightly', { cron: '0 2 * * *', input: 'dt={date-1d}/' });
    const created = await run(['create', file]);
    expect(created.stderr).toBe('');
    expect(created.status).toBe(0);
    expect(created.stdout).toMatch(/^schedule nightly created; next run \d{4}-\d\d-\d\dT02:00:00\.000Z\n$/);

    const again = await run(['create', file]);
    expect(again.status).toBe(1);
    expect(again.stderr).toContain('SCHEDULE_EXISTS');

    const replaced = await run(['replace', file, '--json']);
    expect(replaced.status, replaced.stderr).toBe(0);
    expect(scheduleViewSchema.parse(JSON.parse(replaced.stdout))).toMatchObject({ name: 'nightly' });

    const other = await scheduleFile('unknown', { cron: '0 2 * * *', input: 'dt={date}/' });
    expect((await run(['replace', other])).status).toBe(5);

    const bad = join(dir, 'bad.yaml');
    await writeFile(bad, 'name: bad\ncron: "61 * * * *"\njob: { input: { uri: "x/{nope}" } }\n');
    const refused = await run(['create', bad]);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toContain('SCHEDULE_INVALID');
    expect(refused.stderr).toMatch(/ {2}cron: /);
    expect(refused.stderr).toMatch(/ {2}job\.input\.uri: unknown placeholder \{nope\}/);
  });

  it('get shows the next five fire times; pause empties them, resume brings them back', async () => {
    const shown = await run(['get', 'nightly']);
    expect(shown.status, shown.stderr).toBe(0);
    expect(shown.stdout).toContain('state     active\n');
    expect(shown.stdout).toContain('runs      0 active, 0 waiting (at most 1 active)\n');
    expect(shown.stdout.match(/T02:00:00\.000Z/g)).toHaveLength(5);
    expect(shown.stdout).toContain('no runs yet\n');

    const paused = await run(['pause', 'nightly']);
    expect(paused.stdout).toBe('schedule nightly paused (0 runs waiting)\n');
    const detail = scheduleDetailSchema.parse(JSON.parse((await run(['get', 'nightly', '--json'])).stdout));
    expect(detail).toMatchObject({ paused: true, enabled: false, nextRunAt: null, nextRunTimes: [] });

    const resumed = await run(['resume', 'nightly', '--json']);
    expect(resumed.status).toBe(0);
    expect(scheduleDetailSchema.parse(JSON.parse(resumed.stdout)).nextRunTimes).toHaveLength(5);
  });

  it('run --at: a {date-1d} template scores the previous day’s partition, {hour-1h} the previous hour’s', async () => {
    const daily = await run(['run', 'nightly', '--at', '2026-01-10', '--wait', '--quiet']);
    expect(daily.status, daily.stderr).toBe(0);
    const [id, outcome] = daily.stdout.trim().split('\n');
    expect(outcome).toMatch(new RegExp(`^job ${id} succeeded: 300 rows scored`));
    const job = jobViewSchema.parse(
      JSON.parse((await run(['run', 'nightly', '--at', '2026-01-10', '--json'])).stdout),
    );
    // The same tick again: its job, not a second one.
    expect(job.id).toBe(id);
    expect(job.spec.input.uri).toBe(`${data}dt=2026-01-09/`);

    const hourlyFile = await scheduleFile('hourly', {
      cron: '0 * * * *',
      input: 'hourly/dt={date}/hour={hour-1h}/',
    });
    expect((await run(['create', hourlyFile])).status).toBe(0);
    const hourly = await run(['run', 'hourly', '--at', '2026-01-10T05:00Z', '--wait', '--json', '--quiet']);
    expect(hourly.status, hourly.stderr).toBe(0);
    const hourlyJob = jobViewSchema.parse(JSON.parse(hourly.stdout));
    expect(hourlyJob.spec.input.uri).toBe(`${data}hourly/dt=2026-01-10/hour=04/`);
    expect(hourlyJob.progress.rowsScored).toBe(240);
  });

  it('backfill --wait follows every run to its end and exits 3 when one failed', async () => {
    // 2026-01-09 reads dt=2026-01-08/, which does not exist: that run's job fails.
    const file = await scheduleFile('nightly', {
      cron: '0 2 * * *',
      input: 'dt={date-1d}/',
      maxActiveRuns: 3,
    });
    expect((await run(['replace', file])).status).toBe(0);
    const filled = await run([
      'backfill',
      'nightly',
      '--from',
      '2026-01-09',
      '--to',
      '2026-01-11',
      '--wait',
      '--interval',
      '0.3',
    ]);
    expect(filled.status, filled.stderr).toBe(3);
    // The 2026-01-10 tick already had its run (run-now above): two new.
    expect(filled.stdout).toMatch(/^backfill of nightly: 3 runs \(2 new\)\n/);
    expect(filled.stdout).toMatch(/^2026-01-09T02:00\+00:00 +backfill +failed +/m);
    expect(filled.stdout).toMatch(/^2026-01-10T02:00\+00:00 +run +succeeded +300 /m);
    expect(filled.stdout).toMatch(/^2026-01-11T02:00\+00:00 +backfill +succeeded +500 /m);
    expect(filled.stdout).toMatch(
      /3\/3 runs ended: 2 succeeded, 1 failed {2}0 active {2}0 waiting {2}800 rows\n$/,
    );
    // Not a terminal: one progress line per change, the last with every run ended.
    expect(filled.stderr).not.toContain('\r');
    expect(filled.stderr.trim().split('\n').at(-1)).toMatch(/^\[#{24}\] {2}3\/3 runs ended/);

    const again = await run(['backfill', 'nightly', '--from', '2026-01-09', '--to', '2026-01-11', '--json']);
    expect(again.status).toBe(0);
    const reply = backfillReplySchema.parse(JSON.parse(again.stdout));
    expect(reply.created).toBe(0);
    expect(reply.runs.map((r) => r.status)).toEqual(['failed', 'succeeded', 'succeeded']);
    expect((await run(['backfill', 'nightly', '--from', '2026-01-09'])).status).toBe(2);
  });

  it('list shows both schedules with their last runs; delete removes one (then 5)', async () => {
    const table = await run(['list']);
    expect(table.status).toBe(0);
    expect(table.stdout).toMatch(/^NAME +TENANT +CRON +TIMEZONE +STATE +NEXT RUN +LAST RUN\n/);
    expect(table.stdout).toMatch(
      /^hourly +acme +0 \* \* \* \* +UTC +active +\S+ +2026-01-10T05:00\+00:00 \S+$/m,
    );
    expect(table.stdout).toMatch(/^nightly +acme +0 2 \* \* \* +UTC +active /m);
    const listed = scheduleListSchema.parse(JSON.parse((await run(['list', '--json'])).stdout));
    expect(listed.schedules.map((s) => s.name)).toEqual(['hourly', 'nightly']);

    const deleted = await run(['delete', 'hourly']);
    expect(deleted.stdout).toBe('schedule hourly deleted\n');
    expect((await run(['get', 'hourly'])).status).toBe(5);
  });
});
