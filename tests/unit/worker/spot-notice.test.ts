import { describe, expect, it } from 'vitest';
import { type SpotNotice, decideSpotPoll, watchSpotNotice } from '../../../services/worker/spot-notice.js';
import { makeRecordingLog } from '../../helpers/recording-log.js';

describe('decideSpotPoll', () => {
  it('404 is no notice; a 200 with a JSON object is a notice, with action and time when given', () => {
    expect(decideSpotPoll(404, '<html>Not Found</html>')).toEqual({ kind: 'none' });
    expect(decideSpotPoll(200, '{"action":"terminate","time":"2026-11-27T08:22:00Z"}')).toEqual({
      kind: 'notice',
      notice: { action: 'terminate', time: '2026-11-27T08:22:00Z' },
    });
    expect(decideSpotPoll(200, '{"action":"stop","extra":1}')).toEqual({
      kind: 'notice',
      notice: { action: 'stop' },
    });
    expect(decideSpotPoll(200, '{}')).toEqual({ kind: 'notice', notice: {} });
  });

  it('asks for an IMDSv2 token on 401', () => {
    expect(decideSpotPoll(401, '')).toEqual({ kind: 'token-needed' });
  });

  it.each([
    [200, 'terminate'],
    [200, '"terminate"'],
    [200, '[1]'],
    [200, 'null'],
    [200, ''],
    [500, '{"action":"terminate"}'],
    [403, ''],
    [503, 'slow down'],
  ])('HTTP %i with %j is not a notice: a flaky metadata service must not drain a worker', (status, body) => {
    expect(decideSpotPoll(status, body).kind).toBe('unexpected');
  });
});

/** A fetch that answers from a script, one entry per request (the last repeats), and records requests. */
function scriptedFetch(script: Array<{ status: number; body?: string } | Error>) {
  const calls: Array<{ method: string; url: string; headers: Record<string, string> }> = [];
  const fetch = (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    calls.push({
      method: init?.method ?? 'GET',
      url: input instanceof Request ? input.url : input.toString(),
      headers: (init?.headers ?? {}) as Record<string, string>,
    });
    const step = script[Math.min(calls.length - 1, script.length - 1)]!;
    if (step instanceof Error) return Promise.reject(step);
    return Promise.resolve(new Response(step.body ?? '', { status: step.status }));
  };
  return { fetch, calls };
}

function watch(script: Parameters<typeof scriptedFetch>[0]) {
  const { fetch, calls } = scriptedFetch(script);
  const log = makeRecordingLog();
  const notices: SpotNotice[] = [];
  let resolveNotice!: () => void;
  const noticed = new Promise<void>((resolve) => (resolveNotice = resolve));
  const watcher = watchSpotNotice({
    url: 'http://169.254.169.254/latest/meta-data/spot/instance-action',
    pollMs: 1,
    fetch,
    log,
    onNotice: (notice) => {
      notices.push(notice);
      resolveNotice();
    },
  });
  return { watcher, calls, logs: log.records, notices, noticed };
}

const settle = () => new Promise((r) => setTimeout(r, 30));

describe('watchSpotNotice', () => {
  it('polls through 404s, reports the first notice once, and stops polling', async () => {
    const { calls, notices, noticed } = watch([
      { status: 404 },
      { status: 404 },
      { status: 200, body: '{"action":"terminate","time":"2026-11-27T08:22:00Z"}' },
    ]);
    await noticed;
    await settle();
    expect(notices).toEqual([{ action: 'terminate', time: '2026-11-27T08:22:00Z' }]);
    expect(calls).toHaveLength(3);
    expect(calls.every((c) => c.method === 'GET')).toBe(true);
  });

  it('keeps polling through errors and odd answers, logging each distinct problem once', async () => {
    const { calls, logs, notices, noticed } = watch([
      new Error('connect ECONNREFUSED'),
      new Error('connect ECONNREFUSED'),
      { status: 500 },
      { status: 500 },
      { status: 200, body: 'not json' },
      { status: 404 },
      { status: 200, body: '{"action":"stop"}' },
    ]);
    await noticed;
    expect(notices).toEqual([{ action: 'stop' }]);
    expect(calls).toHaveLength(7);
    expect(logs).toEqual([
      expect.objectContaining({
        level: 'warn',
        msg: 'spot notice poll failed; still polling',
        reason: 'connect ECONNREFUSED',
      }),
      expect.objectContaining({
        level: 'warn',
        msg: 'spot notice poll failed; still polling',
        reason: 'HTTP 500',
      }),
      expect.objectContaining({
        level: 'warn',
        msg: 'spot notice poll failed; still polling',
        reason: expect.stringMatching(/^HTTP 200 with a body that is not JSON/) as unknown,
      }),
      expect.objectContaining({ level: 'info', msg: 'spot notice poll answers again' }),
      expect.objectContaining({ level: 'info', msg: 'spot interruption notice', action: 'stop' }),
    ]);
  });

  it('speaks IMDSv2 when asked: a PUT for a token, then GETs carrying it', async () => {
    const { calls, noticed } = watch([
      { status: 401 },
      { status: 200, body: 'token-abc\n' },
      { status: 404 },
      { status: 200, body: '{"action":"hibernate"}' },
    ]);
    await noticed;
    expect(calls.map((c) => `${c.method} ${new URL(c.url).pathname}`)).toEqual([
      'GET /latest/meta-data/spot/instance-action',
      'PUT /latest/api/token',
      'GET /latest/meta-data/spot/instance-action',
      'GET /latest/meta-data/spot/instance-action',
    ]);
    expect(calls[1]!.headers['X-aws-ec2-metadata-token-ttl-seconds']).toBe('21600');
    expect(calls[2]!.headers['X-aws-ec2-metadata-token']).toBe('token-abc');
    expect(calls[3]!.headers['X-aws-ec2-metadata-token']).toBe('token-abc');
  });

  it('stop() ends polling, and is safe twice', async () => {
    const { watcher, calls, notices } = watch([{ status: 404 }]);
    await settle();
    watcher.stop();
    watcher.stop();
    const seen = calls.length;
    expect(seen).toBeGreaterThan(0);
    await settle();
    expect(calls.length).toBe(seen);
    expect(notices).toEqual([]);
  });
});
