import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobListSchema, jobResultsSchema } from '../../schemas/api.js';
import { jobViewSchema } from '../../schemas/job-record.js';
import { runReportSchema } from '../../schemas/run-report.js';
import { freePort } from '../../scripts/lib/demo-redis.js';
import { modelPath } from '../../scripts/lib/models.js';
import { makeRedis } from '../../services/queue/redis-connection.js';
import { makeFileStorage } from '../../services/storage/file-storage.js';
import { type ApiProcess, startApiProcess } from '../helpers/api-process.js';
import { featureColumns, writeDataset } from '../helpers/pipeline.js';
import { type WorkerFleet, makeWorkerFleet } from '../helpers/worker-processes.js';
import { writeTenantsFile } from '../helpers/tenants-file.js';

const quiver = join(import.meta.dirname, '../../services/cli/quiver.js');
const ROWS = 20_000;
const CHUNK_ROWS = 5_000;

interface CliRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

describe('quiver job commands (the real binary against real API and worker processes)', () => {
  let dir: string;
  let redis: Redis;
  let api: ApiProcess;
  let fleet: WorkerFleet;
  let input: string;
  let heavyModel: string;
  let model: string;
  const key = `key-${randomBytes(12).toString('hex')}`;
  const prefix = `{test-cli-${randomUUID().slice(0, 8)}}`;

  /** Runs `quiver ...args` against the test API; resolves when it exits (it never inherits a TTY). */
  function run(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [quiver, ...args], {
        env: { ...process.env, QUIVER_API_URL: api.url, QUIVER_API_KEY: key, ...env },
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

  const specFlags = (output: string, extra: string[] = []) => [
    '--name',
    'cli-e2e',
    '--input',
    input,
    '--format',
    'parquet',
    '--model',
    model,
    '--score-column',
    'score',
    '--output',
    pathToFileURL(join(dir, output)).href + '/',
    '--passthrough',
    'id',
    '--chunk-rows',
    String(CHUNK_ROWS),
    '--batch-rows',
    '1024',
    ...extra,
  ];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'quiver-cli-jobs-'));
    input = pathToFileURL(join(dir, 'data')).href + '/';
    await writeDataset(makeFileStorage(), input, [['events.parquet', 0, ROWS]], { rowGroupRows: CHUNK_ROWS });
    model = pathToFileURL(await modelPath('tabular-mlp')).href;
    heavyModel = pathToFileURL(await modelPath('compute-heavy')).href;
    redis = makeRedis('redis://127.0.0.1:6379');
    // file:// is reachable only under an explicit grant: the test's folder (data, outputs) and the models'.
    const tenants = join(dir, 'tenants.yaml');
    await writeTenantsFile(tenants, {
      acme: {
        keys: [key],
        read: [`${pathToFileURL(dirname(fileURLToPath(model))).href}/`],
        write: [`${pathToFileURL(dir).href}/`],
      },
    });
    const env = {
      QUIVER_REDIS_URL: 'redis://127.0.0.1:6379',
      QUIVER_PREFIX: prefix,
      // Read by the API (keys, grants at submission) and by the workers (grants at planning and writing).
      QUIVER_TENANTS_FILE: tenants,
      QUIVER_MODEL_CACHE: join(dir, 'models'),
      QUIVER_TUNING_CACHE: join(dir, 'tuning.json'),
    };
    api = await startApiProcess(env);
    fleet = makeWorkerFleet(env);
    await fleet.start('worker').waitFor((e) => e.msg === 'worker started');
  }, 120_000);

  afterAll(async () => {
    await fleet?.killAll();
    await api?.stop();
    if (redis) {
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length > 0) await redis.del(...keys);
      redis.disconnect();
    }
    await rm(dir, { recursive: true, force: true });
  });

  it('submit → status --watch to success → results --download matching the manifest → list', async () => {
    const submitted = await run(['submit', ...specFlags('scores'), '--label', 'suite=cli', '--json']);
    expect(submitted.stderr).toBe('');
    expect(submitted.status).toBe(0);
    const job = jobViewSchema.parse(JSON.parse(submitted.stdout));
    expect(job.spec.labels).toEqual({ suite: 'cli' });

    const watched = await run(['status', job.id, '--watch', '--interval', '0.5']);
    expect(watched.status, watched.stderr).toBe(0);
    expect(watched.stdout).toMatch(
      new RegExp(
        `^job ${job.id} succeeded: 20,000 rows scored, 0 rejected in \\S+ → file://\\S+/_manifest\\.json\\n$`,
      ),
    );
    // Not a terminal: one progress line per change, no carriage returns, the last one at n/n chunks.
    const progress = watched.stderr.trim().split('\n');
    expect(watched.stderr).not.toContain('\r');
    expect(progress.at(-1)).toMatch(
      /^\[#+\] {2}succeeded +(\d+)\/\1 chunks {2}20,000 rows {2}\S+ rows\/s {2}ETA /,
    );

    const shown = await run(['status', job.id]);
    expect(shown.status).toBe(0);
    expect(shown.stdout).toContain('status    succeeded\n');
    expect(shown.stdout).toContain('labels    suite=cli\n');

    const target = join(dir, 'downloaded');
    const fetched = await run(['results', job.id, '--download', target, '--json']);
    expect(fetched.status, fetched.stderr).toBe(0);
    const results = jobResultsSchema.parse(JSON.parse(fetched.stdout));
    expect(results.manifest.rowsScored).toBe(ROWS);
    // DuckDB rounds row groups to its vector size: the chunks are what the planner made of them.
    const chunks = results.parts.length;
    expect(chunks).toBeGreaterThan(1);
    for (const part of results.manifest.parts) {
      const name = part.uri.split('/').pop()!;
      const copy = join(target, name);
      expect((await stat(copy)).size).toBe(part.bytes);
      expect(await readFile(copy)).toEqual(await readFile(fileURLToPath(part.uri)));
    }
    expect((await readdir(target)).sort()).toEqual([
      '_manifest.json',
      ...results.manifest.parts.map((p) => p.uri.split('/').pop()!),
    ]);
    expect(JSON.parse(await readFile(join(target, '_manifest.json'), 'utf8'))).toEqual(results.manifest);

    const summary = await run(['results', job.id]);
    expect(summary.status).toBe(0);
    expect(summary.stdout).toContain('rows      20,000 scored, 0 rejected, 20,000 read');
    expect(summary.stdout).toMatch(
      /^part +0 +[\d,]+ +\S+ \S+ +file:\/\/\S+\/part-00000-[0-9a-z]+\.parquet$/m,
    );

    const table = await run(['list', '--label', 'suite=cli']);
    expect(table.status).toBe(0);
    expect(table.stdout).toMatch(
      new RegExp(`^${job.id} +succeeded +cli-e2e +${chunks}/${chunks} +20,000 `, 'm'),
    );
    const listed = await run(['list', '--status', 'succeeded', '--all', '--json']);
    expect(listed.status).toBe(0);
    expect(jobListSchema.parse(JSON.parse(listed.stdout)).jobs.map((j) => j.id)).toContain(job.id);
  });

  it('submit --wait from a YAML spec file, with a flag overriding the file, exits 0 on success', async () => {
    const file = join(dir, 'nightly.yaml');
    await writeFile(
      file,
      [
        'name: nightly',
        'input:',
        `  uri: ${input}`,
        '  format: parquet',
        'model:',
        `  uri: ${model}`,
        '  inputs:',
        `    features: { columns: [${featureColumns.join(', ')}] }`,
        'output:',
        `  uri: ${pathToFileURL(join(dir, 'nightly')).href}/`,
        '  passthrough: [id]',
        'batch: { rows: 1024, chunkRows: 20000 }',
        '',
      ].join('\n'),
    );
    const waited = await run(['submit', file, '--name', 'nightly-override', '--wait', '--quiet']);
    expect(waited.status, waited.stderr).toBe(0);
    const [id, outcome] = waited.stdout.trim().split('\n');
    expect(outcome).toMatch(new RegExp(`^job ${id} succeeded: 20,000 rows scored`));
    expect(waited.stderr).toBe('');
    const shown = await run(['status', id!, '--json']);
    expect(jobViewSchema.parse(JSON.parse(shown.stdout)).spec.name).toBe('nightly-override');
  });

  it('submit --challenger with quality flags: one job scores both models, and report shows their agreement', async () => {
    const v2 = pathToFileURL(await modelPath('tabular-mlp-v2')).href;
    const waited = await run([
      'submit',
      ...specFlags('challenger'),
      '--challenger',
      `v2=${v2}`,
      '--max-null-fraction',
      '0',
      '--wait',
      '--quiet',
    ]);
    expect(waited.status, waited.stderr).toBe(0);
    const [id] = waited.stdout.trim().split('\n');
    const view = jobViewSchema.parse(JSON.parse((await run(['status', id!, '--json'])).stdout));
    expect(view.spec.challengers).toEqual([
      { name: 'v2', model: { uri: v2, outputs: { score: { column: 'score' } } } },
    ]);
    expect(view.spec.quality).toEqual({ maxNullFraction: 0 });
    const report = runReportSchema.parse(JSON.parse((await run(['report', id!, '--json'])).stdout));
    expect(report.models.challengers.map((c) => c.name)).toEqual(['v2']);
    expect(report.agreement.v2!.score!.rows).toBe(ROWS);
    // Two models with other weights on the same rows (the figures themselves are checked against DuckDB in
    // tests/integration/pipeline/challengers-report.test.ts).
    const { correlation, meanAbsDiff } = report.agreement.v2!.score!;
    expect(Math.abs(correlation!)).toBeLessThanOrEqual(1);
    expect(meanAbsDiff).toBeGreaterThan(0);
    expect(report.quality).toMatchObject({ onViolation: 'fail', violations: [], passed: true });
    expect(Object.keys(report.quality!.nullFraction)).toHaveLength(featureColumns.length);
  });

  it('the same idempotency key gives the same job', async () => {
    const flags = [...specFlags('idempotent'), '--idempotency-key', `cli-${randomUUID()}`];
    const first = await run(['submit', ...flags]);
    const second = await run(['submit', ...flags]);
    expect([first.status, second.status]).toEqual([0, 0]);
    expect(second.stdout).toBe(first.stdout);
    expect(second.stderr).toContain('names existing job');
    expect((await run(['status', first.stdout.trim(), '--watch', '--quiet'])).status).toBe(0);
  });

  it('a job that fails (a missing feature column): status --watch exits 3 printing the error code', async () => {
    const columns = [...featureColumns.slice(0, -1), 'no_such_column'].join(',');
    const submitted = await run(['submit', ...specFlags('failing', ['--columns', columns])]);
    expect(submitted.status, submitted.stderr).toBe(0);
    const id = submitted.stdout.trim();
    const json = await run(['status', id, '--watch', '--json', '--quiet']);
    expect(json.status).toBe(3);
    const code = jobViewSchema.parse(JSON.parse(json.stdout)).error?.code;
    // Whether the decoder packed the features or the mapper read them, the code names the mapping.
    expect(code).toBe('FEATURE_COLUMN_MISSING');
    const watched = await run(['status', id, '--watch']);
    expect(watched.status).toBe(3);
    // Every chunk lacks the column: the one that fails first (any, with chunks scored at once) names it.
    expect(watched.stdout).toMatch(
      new RegExp(`^job ${id} failed: ${code}: .*no_such_column.*\\(chunk \\d+\\)\\n$`),
    );
    // A failed job has no results to show.
    const results = await run(['results', id]);
    expect(results.status).toBe(1);
  });

  it('cancel: the job ends cancelled and status --watch exits 4', async () => {
    const submitted = await run([
      'submit',
      ...specFlags('cancelled', ['--model', heavyModel, '--chunk-rows', '2500', '--batch-rows', '256']),
    ]);
    expect(submitted.status, submitted.stderr).toBe(0);
    const id = submitted.stdout.trim();
    const cancelled = await run(['cancel', id]);
    expect(cancelled.status, cancelled.stderr).toBe(0);
    expect(cancelled.stdout).toMatch(new RegExp(`^job ${id} (cancelling|cancelled)\\n$`));
    const watched = await run(['status', id, '--watch', '--interval', '0.5']);
    expect(watched.status, watched.stdout + watched.stderr).toBe(4);
    expect(watched.stdout).toMatch(new RegExp(`^job ${id} cancelled after \\d+/\\d+ chunks\\n$`));
  });

  it('an invalid spec exits 2 naming each field path, and sends nothing', async () => {
    const bad = await run([
      'submit',
      '--input',
      input,
      '--format',
      'xlsx',
      '--model',
      model,
      '--output',
      'file:///tmp/x/',
      '--webhook-url',
      'ftp://example.com',
    ]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('JOB_SPEC_INVALID');
    expect(bad.stderr).toMatch(/^ {2}input\.format: /m);
    expect(bad.stderr).toMatch(/^ {2}webhook\.url: /m);
    expect(bad.stderr).toMatch(/^ {2}webhook\.secret: /m);
    const json = await run(['submit', '--input', input, '--json']);
    expect(json.status).toBe(2);
    const body = JSON.parse(json.stderr) as { error: { code: string; problems: Array<{ path: string }> } };
    expect(body.error.code).toBe('JOB_SPEC_INVALID');
    expect(body.error.problems.map((p) => p.path)).toEqual(expect.arrayContaining(['model', 'output']));
    expect((await run(['status'])).status).toBe(2);
    expect((await run(['list', '--limit', 'many'])).status).toBe(2);
  });

  it('an unknown job exits 5 from status, cancel and results', async () => {
    for (const command of ['status', 'cancel', 'results']) {
      const missing = await run([command, 'no-such-job']);
      expect(missing.status, `${command}: ${missing.stderr}`).toBe(5);
      expect(missing.stderr).toMatch(new RegExp(`^quiver ${command}: \\S+`));
    }
  });

  it('a bad API key exits 1 with a clear message; so does an API that is not there', async () => {
    const refused = await run(['list'], { QUIVER_API_KEY: 'not-a-key' });
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/^quiver list: \S+: .*\n {2}\(set QUIVER_API_KEY or pass --api-key/);
    const json = await run(['list', '--json', '--api-key', 'not-a-key']);
    expect(json.status).toBe(1);
    expect((JSON.parse(json.stderr) as { error: { code: string } }).error.code).toMatch(/^[A-Z_]+$/);

    const closed = await freePort();
    const away = await run(['status', 'x', '--api-url', `http://127.0.0.1:${closed}`]);
    expect(away.status).toBe(1);
    expect(away.stderr).toContain(`cannot reach the Quiver API at http://127.0.0.1:${closed}`);
    expect(away.stderr).toContain('ECONNREFUSED');
  });
});
