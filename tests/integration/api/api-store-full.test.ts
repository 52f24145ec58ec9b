import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isPermanent } from '../../../schemas/errors/quiver-error.js';
import { apiErrorSchema, jobListSchema } from '../../../schemas/api.js';
import { jobViewSchema } from '../../../schemas/job-record.js';
import { freePort, waitForRedis } from '../../../scripts/lib/demo-redis.js';
import { StoreFull } from '../../../jobs/ports/errors/store-full.js';
import { storeFullOf } from '../../../services/queue/redis-connection.js';
import { auth, type ApiHarness, specInput, startApi } from './api-harness.js';

describe('POST /v1/jobs while Redis is at maxmemory', () => {
  let server: ChildProcess | undefined;
  let dir: string;
  let filler: Redis | undefined;
  let h: ApiHarness | undefined;
  const configured = process.env.QUIVER_REDIS_URL;

  beforeAll(async () => {
    // A private redis-server set up as infra/ sets up Redis (maxmemory, noeviction), with a tiny maxmemory.
    dir = await mkdtemp(join(tmpdir(), 'quiver-redis-full-'));
    const port = await freePort();
    server = spawn(
      'redis-server',
      [
        ...['--port', String(port), '--bind', '127.0.0.1', '--dir', dir],
        ...['--maxmemory', '4mb', '--maxmemory-policy', 'noeviction', '--save', '', '--appendonly', 'no'],
      ],
      { stdio: 'ignore' },
    );
    const url = `redis://127.0.0.1:${port}`;
    await waitForRedis(url);
    // The harness connects to QUIVER_REDIS_URL.
    process.env.QUIVER_REDIS_URL = url;
    h = await startApi();
    filler = new Redis(url);
  });

  afterAll(async () => {
    if (configured === undefined) delete process.env.QUIVER_REDIS_URL;
    else process.env.QUIVER_REDIS_URL = configured;
    await filler?.flushall().catch(() => undefined);
    await h?.close();
    filler?.disconnect();
    server?.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  it('answers 503 STORE_FULL, writes nothing, and still serves reads', async () => {
    const api = h!;
    const submit = () =>
      api.app.inject({ method: 'POST', url: '/v1/jobs', headers: auth('acme'), payload: specInput });
    const first = await submit();
    expect(first.statusCode).toBe(201);
    const job = jobViewSchema.parse(first.json());

    // Small values until Redis refuses one: it is then over maxmemory, not just refusing one large value.
    const value = 'x'.repeat(1024);
    let refusal: unknown;
    for (let i = 0; i < 100_000 && refusal === undefined; i++) {
      await filler!.set(`filler:${i}`, value).catch((error: unknown) => (refusal = error));
    }
    expect(String(refusal)).toContain("OOM command not allowed when used memory > 'maxmemory'");
    // Redis's own replies, as the API and the workers get them: a command, and a MULTI it aborts.
    expect(storeFullOf(refusal)).toBeInstanceOf(StoreFull);
    const aborted = await filler!
      .multi()
      .set('filler:multi', value)
      .exec()
      .catch((error: unknown) => error);
    expect(storeFullOf(aborted)).toBeInstanceOf(StoreFull);
    // Workers retry it like any transient failure: it is not one of the permanent ones.
    expect(isPermanent(refusal)).toBe(false);

    const refused = await submit();
    expect(refused.statusCode).toBe(503);
    expect(apiErrorSchema.parse(refused.json()).error).toMatchObject({
      code: 'STORE_FULL',
      message: expect.stringContaining('maxmemory') as unknown,
    });
    // The create script refused as a whole, and reading needs no memory.
    const list = await api.app.inject({ url: '/v1/jobs', headers: auth('acme') });
    expect(list.statusCode).toBe(200);
    expect(jobListSchema.parse(list.json()).jobs.map((j) => j.id)).toEqual([job.id]);
    expect((await api.app.inject({ url: `/v1/jobs/${job.id}`, headers: auth('acme') })).statusCode).toBe(200);
  });
});
