import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { JobView } from '../../../schemas/job-record.js';
import { loadApiConfig } from '../../../services/api/api-options.js';
import { runApiServer, startApiServer } from '../../../services/api/main.js';
import { makeRedis, redisConfigFromEnv } from '../../../services/queue/redis-connection.js';
import { makeLog } from '../../../services/process/log.js';
import { keys, keysOf, specInput } from './api-harness.js';

const prefix = `{test-${randomBytes(6).toString('hex')}}`;
const env = {
  QUIVER_API_KEYS: `acme:${keys.acme}`,
  QUIVER_API_PORT: '0',
  QUIVER_API_HOST: '127.0.0.1',
  QUIVER_PREFIX: prefix,
  QUIVER_REDIS_URL: redisConfigFromEnv().url,
};
const authorization = `Bearer ${keys.acme}`;

interface LogEvent {
  msg: string;
  level: string;
  time: string;
  reqId?: string;
  [key: string]: unknown;
}

/** The process's logger, its lines kept as written and parsed. */
function capturedLog() {
  const lines: string[] = [];
  const events: LogEvent[] = [];
  const destination = {
    write: (line: string) => {
      lines.push(line);
      events.push(JSON.parse(line) as LogEvent);
    },
  };
  return { lines, events, log: makeLog({ level: 'info', format: 'json', destination }) };
}

afterEach(async () => {
  const redis = makeRedis(env.QUIVER_REDIS_URL);
  const found = await keysOf(redis, prefix);
  if (found.length > 0) await redis.del(...found);
  await redis.quit();
});

describe('the API process', () => {
  it('listens on a real port, serves jobs over HTTP, and stops cleanly', async () => {
    const { lines, events, log } = capturedLog();
    const server = await startApiServer(loadApiConfig([], env), log);
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(await (await fetch(`${server.url}/readyz`)).json()).toEqual({ status: 'ready' });
    const created = await fetch(`${server.url}/v1/jobs`, {
      method: 'POST',
      headers: { authorization, 'content-type': 'application/json' },
      body: JSON.stringify(specInput),
    });
    expect(created.status).toBe(201);
    const job = (await created.json()) as JobView;
    const read = await fetch(`${server.url}/v1/jobs/${job.id}`, { headers: { authorization } });
    expect(((await read.json()) as JobView).status).toBe('queued');
    // Fastify's request logs go through the process's logger, at info, without the API key.
    expect(events.filter((e) => e.msg === 'request completed')).toContainEqual(
      expect.objectContaining({ level: 'info', res: { statusCode: 201 } }),
    );
    expect(lines.join('')).not.toContain(keys.acme);

    expect(await server.stop()).toBe(0);
    expect(server.state).toBe('stopped');
    expect(await server.stop()).toBe(0);
    await expect(fetch(`${server.url}/healthz`)).rejects.toThrow();
  });

  it('stops on the first SIGTERM, answering a held long-poll at once; a second signal forces', async () => {
    const { events, log } = capturedLog();
    const signals = new EventEmitter();
    const exits: number[] = [];
    const running = runApiServer(loadApiConfig([], env), {
      log,
      signals,
      exit: (code) => void exits.push(code),
    });
    await expect.poll(() => events.some((e) => e.msg === 'api listening')).toBe(true);
    const url = events.find((e) => e.msg === 'api listening')?.url as string;
    const created = await fetch(`${url}/v1/jobs`, {
      method: 'POST',
      headers: { authorization, 'content-type': 'application/json' },
      body: JSON.stringify(specInput),
    });
    const job = (await created.json()) as JobView;
    const held = fetch(`${url}/v1/jobs/${job.id}?waitSeconds=30`, { headers: { authorization } });
    await new Promise((resolve) => setTimeout(resolve, 200));

    const started = Date.now();
    signals.emit('SIGTERM', 'SIGTERM');
    signals.emit('SIGINT', 'SIGINT');
    expect(exits).toEqual([130]);
    expect((await held).status).toBe(200);
    expect(await running).toBe(0);
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(signals.listenerCount('SIGTERM')).toBe(0);
    // The process's own lines; Fastify's request lines carry a `reqId`.
    const own = events.filter((e) => e.reqId === undefined);
    expect(own.map((e) => e.msg)).toEqual([
      `Server listening at ${url}`,
      'api listening',
      'stopping',
      'second signal: exiting now',
      'stopped',
    ]);
    expect(own.every((e) => e.service === 'api' && !Number.isNaN(Date.parse(e.time)))).toBe(true);
  });

  it('fails to start with a clear error when the port is taken, leaving nothing open', async () => {
    const { log } = capturedLog();
    const first = await startApiServer(loadApiConfig([], env), log);
    const port = new URL(first.url).port;
    try {
      await expect(startApiServer(loadApiConfig(['--port', port], env), log)).rejects.toThrow(/EADDRINUSE/);
    } finally {
      await first.stop();
    }
  });
});
