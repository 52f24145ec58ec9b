import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

/** Whether a Redis at `url` answers PING now. */
export async function answers(url: string): Promise<boolean> {
  const client = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: 1_000,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

/** A TCP port free on loopback right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/**
 * A redis-server on loopback `port` keeping its files in `dir`, with the settings Quiver needs
 * (`noeviction`); `appendonly` turns on AOF with an fsync per write, for tests that restart it.
 */
export function spawnRedisServer(
  port: number,
  dir: string,
  options: { appendonly?: boolean } = {},
): ChildProcess {
  const persistence = options.appendonly
    ? ['--appendonly', 'yes', '--appendfsync', 'always']
    : ['--appendonly', 'no'];
  return spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      '--save',
      '',
      ...persistence,
      '--maxmemory-policy',
      'noeviction',
    ],
    { stdio: 'ignore' },
  );
}

/** Waits (up to `timeoutMs`) until a Redis at `url` answers. */
export async function waitForRedis(url: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await answers(url))) {
    if (Date.now() > deadline) throw new Error(`no Redis answered at ${url} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * A Redis for the demo: QUIVER_REDIS_URL/REDIS_URL when set, else one answering on 127.0.0.1:6379 (the
 * demo uses its own key prefix there), else a private redis-server started in a temp dir and stopped at the
 * end. Without any, it says how to install one.
 */
export async function demoRedis(): Promise<{ url: string; origin: string; stop(): Promise<void> }> {
  const configured = process.env.QUIVER_REDIS_URL ?? process.env.REDIS_URL;
  if (configured) return { url: configured, origin: 'from the environment', stop: () => Promise.resolve() };
  const local = 'redis://127.0.0.1:6379';
  if (await answers(local))
    return { url: local, origin: 'already running locally', stop: () => Promise.resolve() };
  if (spawnSync('redis-server', ['--version']).error) {
    throw new Error(
      'no Redis answers on 127.0.0.1:6379 and redis-server is not installed: apt-get install redis-server (or set QUIVER_REDIS_URL)',
    );
  }
  const dir = await mkdtemp(join(tmpdir(), 'quiver-demo-redis-'));
  const port = await freePort();
  const child = spawnRedisServer(port, dir);
  const url = `redis://127.0.0.1:${port}`;
  await waitForRedis(url);
  return {
    url,
    origin: `a private redis-server on port ${port}`,
    async stop() {
      child.kill('SIGTERM');
      await rm(dir, { recursive: true, force: true });
    },
  };
}
