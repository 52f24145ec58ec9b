import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobResultsSchema } from '../../schemas/api.js';
import { jobViewSchema } from '../../schemas/job-record.js';
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

/**
 * `quiver retry [--wait]` and `expiresAfterSeconds` through the real binary, API and worker processes. The
 * workers start only after the first two jobs were handled with none running: one expires (the API's own
 * deadline sweep), one is cancelled while queued — then retried and followed to success.
 */
describe('quiver retry and job expiry (the real binary against real API and worker processes)', () => {
  let dir: string;
  let redis: Redis;
  let api: ApiProcess;
  let fleet: WorkerFleet;
  let input: string;
  let model: string;
  const key = `key-${randomBytes(12).toString('hex')}`;
  const prefix = `{test-cli-retry-${randomUUID().slice(0, 8)}}`;

  function run(args: string[]): Promise<CliRun> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [quiver, ...args], {
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

  /** A spec file (the deadline fields have no flags of their own). */
  async function specFile(name: string, extra: Record<string, unknown> = {}): Promise<string> {
    const path = join(dir, `${name}.json`);
    const spec = {
      name,
      input: { uri: input, format: 'parquet' },
      model: {
        uri: model,
        inputs: { features: { columns: featureColumns } },
        outputs: { score: { column: 'score' } },
      },
      output: { uri: `${pathToFileURL(join(dir, name)).href}/`, format: 'parquet', passthrough: ['id'] },
      batch: { rows: 1_024, chunkRows: CHUNK_ROWS },
      ...extra,
    };
    await writeFile(path, JSON.stringify(spec));
    return path;
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'quiver-cli-retry-'));
    input = pathToFileURL(join(dir, 'data')).href + '/';
    await writeDataset(makeFileStorage(), input, [['events.parquet', 0, ROWS]], { rowGroupRows: CHUNK_ROWS });
    model = pathToFileURL(await modelPath('tabular-mlp')).href;
    redis = makeRedis('redis://127.0.0.1:6379');
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
      QUIVER_TENANTS_FILE: tenants,
      QUIVER_MODEL_CACHE: join(dir, 'models'),
      QUIVER_TUNING_CACHE: join(dir, 'tuning.json'),
    };
    api = await startApiProcess(env);
    fleet = makeWorkerFleet(env);
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

  it('expiry, cancel of a queued job, then retry --wait to success; a second retry is refused', async () => {
    // No worker runs: the job waits queued until the API's deadline sweep expires it (exit 7).
    const expiring = await run(['submit', await specFile('expiring', { expiresAfterSeconds: 1 }), '--json']);
    expect(expiring.status, expiring.stderr).toBe(0);
    const expiringId = jobViewSchema.parse(JSON.parse(expiring.stdout)).id;
    const expired = await run(['status', expiringId, '--watch', '--interval', '0.2', '--timeout', '20']);
    expect(expired.status, expired.stdout + expired.stderr).toBe(7);
    expect(expired.stdout).toBe(`job ${expiringId} expired: still queued after 1s, never started\n`);
    const shownExpired = await run(['status', expiringId, '--json']);
    expect(jobViewSchema.parse(JSON.parse(shownExpired.stdout))).toMatchObject({
      status: 'expired',
      error: { code: 'JOB_EXPIRED' },
    });
    const listed = await run(['list', '--status', 'expired', '--json']);
    expect(listed.status, listed.stderr).toBe(0);
    expect(listed.stdout).toContain(expiringId);

    // Cancelled while still queued; the worker (started now) finalizes it to cancelled.
    const submitted = await run(['submit', await specFile('retried'), '--json']);
    expect(submitted.status, submitted.stderr).toBe(0);
    const id = jobViewSchema.parse(JSON.parse(submitted.stdout)).id;
    expect((await run(['cancel', id])).status).toBe(0);
    await fleet.start('worker').waitFor((e) => e.msg === 'worker started');
    const cancelled = await run(['status', id, '--watch', '--interval', '0.2', '--timeout', '30']);
    expect(cancelled.status, cancelled.stdout + cancelled.stderr).toBe(4);
    // The worker leaves the expired job expired (its plan job finds it ended).
    expect((await run(['status', expiringId])).stdout).toContain('status    expired\n');

    const retried = await run(['retry', id, '--wait', '--interval', '0.2', '--timeout', '60']);
    expect(retried.status, retried.stderr).toBe(0);
    expect(retried.stdout).toMatch(
      new RegExp(
        `^job ${id} attempt 2 queued\\njob ${id} succeeded: 20,000 rows scored, 0 rejected in \\S+ → file://\\S+/_manifest\\.json\\n$`,
      ),
    );
    const shown = await run(['status', id]);
    expect(shown.stdout).toContain('status    succeeded\n');
    expect(shown.stdout).toContain('attempt   2 (before: cancelled)\n');
    const results = await run(['results', id, '--json']);
    expect(results.status, results.stderr).toBe(0);
    const manifest = jobResultsSchema.parse(JSON.parse(results.stdout)).manifest;
    expect(manifest.rowsScored).toBe(ROWS);
    expect(manifest.parts.reduce((n, p) => n + p.rows, 0)).toBe(ROWS);

    const again = await run(['retry', id]);
    expect(again.status).toBe(1);
    expect(again.stderr).toContain('JOB_NOT_RETRYABLE');
    expect(again.stderr).toContain('succeeded');
    const missing = await run(['retry', 'no-such-job']);
    expect(missing.status).toBe(5);
  }, 180_000);
});
