import { describe, expect, it } from 'vitest';
import { InvalidConfig } from '../../../schemas/errors/invalid-config.js';
import { type LogOptions, logOptionsFromEnv, makeLog } from '../../../services/process/log.js';

/** A logger whose lines are kept, as written and parsed. */
function captured(options: Partial<LogOptions> = {}) {
  const lines: string[] = [];
  const log = makeLog({
    level: 'info',
    format: 'json',
    ...options,
    destination: { write: (line: string) => void lines.push(line) },
  });
  const events = () => lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  return { log, lines, events };
}

describe('makeLog', () => {
  it('writes one JSON object per line: level by name, ISO time, pid, context and msg', () => {
    const { log, lines, events } = captured();
    log.info({ jobId: 'j1', rows: 3 }, 'chunk committed');
    expect(lines).toHaveLength(1);
    expect(lines[0]!.endsWith('\n')).toBe(true);
    const [event] = events();
    expect(event).toMatchObject({
      level: 'info',
      pid: process.pid,
      jobId: 'j1',
      rows: 3,
      msg: 'chunk committed',
    });
    expect(new Date(event!.time as string).toISOString()).toBe(event!.time);
  });

  it('writes only lines at or above its level', () => {
    const { log, events } = captured({ level: 'warn' });
    log.debug({}, 'd');
    log.info({}, 'i');
    log.warn({}, 'w');
    log.error({}, 'e');
    expect(events().map((e) => [e.level, e.msg])).toEqual([
      ['warn', 'w'],
      ['error', 'e'],
    ]);
    const debug = captured({ level: 'debug' });
    debug.log.debug({ step: 1 }, 'd');
    expect(debug.events()).toEqual([expect.objectContaining({ level: 'debug', step: 1, msg: 'd' })]);
  });

  it('a child carries its bindings on every line, and a grandchild adds its own', () => {
    const { log, events } = captured();
    const attempt = log.child({ jobId: 'j1', chunk: 4, attempt: 'a1' });
    attempt.info({ rows: 10 }, 'segment committed');
    attempt.child({ segment: 2 }).warn({}, 'slow');
    log.info({}, 'unscoped');
    expect(events()).toEqual([
      expect.objectContaining({ jobId: 'j1', chunk: 4, attempt: 'a1', rows: 10, msg: 'segment committed' }),
      expect.objectContaining({ jobId: 'j1', chunk: 4, attempt: 'a1', segment: 2, level: 'warn' }),
      expect.not.objectContaining({ jobId: 'j1' }),
    ]);
  });

  it('errors under `err` keep their type, message and stack', () => {
    const { log, events } = captured();
    log.error({ err: new TypeError('bad marker') }, 'commit marker ignored');
    expect(events()[0]!.err).toMatchObject({
      type: 'TypeError',
      message: 'bad marker',
      stack: expect.stringContaining('TypeError: bad marker') as unknown,
    });
  });

  it('redacts webhook secrets, API keys, Authorization headers and AWS credentials', () => {
    const { log, lines, events } = captured();
    const secrets = {
      webhook: 'whsec_c2VjcmV0LW9uZQ==',
      previous: 'whsec_c2VjcmV0LXR3bw==',
      apiKey: 'acme-0123456789abcdef',
      bearer: 'Bearer acme-fedcba9876543210',
      accessKeyId: 'AKIAEXAMPLEEXAMPLE',
      secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
      sessionToken: 'IQoJb3JpZ2luX2VjEXAMPLE',
    };
    log.info(
      {
        spec: { webhook: { url: 'https://hooks.example.com/q', secret: secrets.webhook } },
        webhook: { secret: secrets.webhook, previousSecret: secrets.previous },
        record: { spec: { webhook: { secret: secrets.webhook } } },
        secret: secrets.webhook,
        apiKey: secrets.apiKey,
        req: { method: 'GET', headers: { authorization: secrets.bearer } },
        headers: { Authorization: secrets.bearer },
        credentials: {
          accessKeyId: secrets.accessKeyId,
          secretAccessKey: secrets.secretAccessKey,
          sessionToken: secrets.sessionToken,
        },
      },
      'everything secret',
    );
    for (const secret of Object.values(secrets)) expect(lines.join('')).not.toContain(secret);
    expect(events()[0]).toMatchObject({
      spec: { webhook: { url: 'https://hooks.example.com/q', secret: '[redacted]' } },
      webhook: { secret: '[redacted]', previousSecret: '[redacted]' },
      record: { spec: { webhook: { secret: '[redacted]' } } },
      secret: '[redacted]',
      apiKey: '[redacted]',
      req: { method: 'GET', headers: { authorization: '[redacted]' } },
      headers: { Authorization: '[redacted]' },
      credentials: { accessKeyId: '[redacted]', secretAccessKey: '[redacted]', sessionToken: '[redacted]' },
    });
  });

  it('masks presigned URLs’ signature, credential and token in any string: message, field, error', () => {
    const { log, lines, events } = captured();
    const url =
      'https://scores.s3.amazonaws.com/part-0.parquet?X-Amz-Algorithm=AWS4-HMAC-SHA256' +
      '&X-Amz-Credential=AKIAEXAMPLE%2F20261201%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20261201T000000Z' +
      '&X-Amz-Expires=3600&X-Amz-Security-Token=IQoJb3JpZ2luEXAMPLE&X-Amz-Signature=0f1e2d3c4b5a&x-id=GetObject';
    log
      .child({ jobId: 'j1' })
      .error({ url, nested: { urls: [url] }, err: new Error(`GET ${url} failed`) }, `read ${url}`);
    for (const secret of ['AKIAEXAMPLE', 'IQoJb3JpZ2luEXAMPLE', '0f1e2d3c4b5a'])
      expect(lines.join('')).not.toContain(secret);
    const masked =
      'https://scores.s3.amazonaws.com/part-0.parquet?X-Amz-Algorithm=AWS4-HMAC-SHA256' +
      '&X-Amz-Credential=[redacted]&X-Amz-Date=20261201T000000Z' +
      '&X-Amz-Expires=3600&X-Amz-Security-Token=[redacted]&X-Amz-Signature=[redacted]&x-id=GetObject';
    const [event] = events();
    expect(event).toMatchObject({
      jobId: 'j1',
      url: masked,
      nested: { urls: [masked] },
      msg: `read ${masked}`,
    });
    expect((event!.err as { message: string }).message).toBe(`GET ${masked} failed`);
  });

  it('pretty format writes pino-pretty text, not JSON, with the same redaction', () => {
    const { log, lines } = captured({ format: 'pretty' });
    log.info({ jobId: 'j1', secret: 'whsec_hidden' }, 'job succeeded');
    expect(lines).toHaveLength(1);
    expect(() => JSON.parse(lines[0]!) as unknown).toThrow();
    expect(lines[0]).toContain('job succeeded');
    expect(lines[0]).toContain('j1');
    expect(lines[0]).not.toContain('whsec_hidden');
  });
});

describe('logOptionsFromEnv', () => {
  it('defaults to info, JSON off a terminal and pretty on one', () => {
    expect(logOptionsFromEnv({}, false)).toEqual({ level: 'info', format: 'json' });
    expect(logOptionsFromEnv({}, true)).toEqual({ level: 'info', format: 'pretty' });
  });

  it('QUIVER_LOG_FORMAT and QUIVER_LOG_LEVEL override, whatever stdout is', () => {
    expect(logOptionsFromEnv({ QUIVER_LOG_FORMAT: 'json', QUIVER_LOG_LEVEL: 'debug' }, true)).toEqual({
      level: 'debug',
      format: 'json',
    });
    expect(logOptionsFromEnv({ QUIVER_LOG_FORMAT: 'pretty', QUIVER_LOG_LEVEL: 'silent' }, false)).toEqual({
      level: 'silent',
      format: 'pretty',
    });
  });

  it('refuses an unknown format or level, naming the variable', () => {
    expect(() => logOptionsFromEnv({ QUIVER_LOG_FORMAT: 'xml' }, false)).toThrow(InvalidConfig);
    expect(() => logOptionsFromEnv({ QUIVER_LOG_FORMAT: 'xml' }, false)).toThrow(/QUIVER_LOG_FORMAT/);
    expect(() => logOptionsFromEnv({ QUIVER_LOG_LEVEL: 'loud' }, false)).toThrow(/QUIVER_LOG_LEVEL/);
  });
});
