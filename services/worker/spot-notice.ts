import type { Log } from '../../jobs/ports/log.js';

/** A spot interruption notice, e.g. AWS's `{ "action": "terminate", "time": "2026-11-27T08:22:00Z" }`. */
export interface SpotNotice {
  action?: string;
  time?: string;
}

/** What one poll of the notice URL says. */
export type SpotPollDecision =
  | { kind: 'none' }
  | { kind: 'notice'; notice: SpotNotice }
  /** 401: the metadata service wants an IMDSv2 session token. */
  | { kind: 'token-needed' }
  | { kind: 'unexpected'; reason: string };

/**
 * Reads one answer of the notice URL. 404 is "no notice" (AWS answers so until an interruption is
 * scheduled); a 200 whose body is a JSON object is a notice. Anything else is unexpected and is not a
 * notice: a flaky metadata service must not drain a healthy worker.
 */
export function decideSpotPoll(status: number, body: string): SpotPollDecision {
  if (status === 404) return { kind: 'none' };
  if (status === 401) return { kind: 'token-needed' };
  if (status !== 200) return { kind: 'unexpected', reason: `HTTP ${status}` };
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return { kind: 'unexpected', reason: `HTTP 200 with a body that is not JSON: ${body.slice(0, 80)}` };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return { kind: 'unexpected', reason: `HTTP 200 with JSON that is not an object: ${body.slice(0, 80)}` };
  }
  const { action, time } = parsed as Record<string, unknown>;
  const notice: SpotNotice = {};
  if (typeof action === 'string') notice.action = action;
  if (typeof time === 'string') notice.time = time;
  return { kind: 'notice', notice };
}

export interface SpotNoticeWatcherOptions {
  /** The URL to poll (see `spotNoticeUrl` in worker-options.ts). */
  url: string;
  /** Milliseconds between polls; the first poll runs at once. */
  pollMs: number;
  /** Called once, on the first notice; polling stops then. */
  onNotice(notice: SpotNotice): void;
  log: Log;
  /** Milliseconds one request may take (default the smaller of `pollMs` and 2 s). */
  requestTimeoutMs?: number;
  fetch?: typeof globalThis.fetch;
}

export interface SpotNoticeWatcher {
  /** Stops polling and aborts a request in flight. Safe to call twice. */
  stop(): void;
}

/** IMDSv2 session tokens: asked for with a PUT, then sent with every GET. */
const TOKEN_PATH = '/latest/api/token';
const TOKEN_TTL_SECONDS = '21600';

/**
 * Polls a spot interruption notice URL until a notice appears or `stop()` is called. Speaks IMDSv2 when
 * the metadata service asks for it (401), and IMDSv1 otherwise. Unexpected answers and network errors are
 * logged once per distinct reason and polling goes on. Its timer does not keep the process alive.
 */
export function watchSpotNotice(options: SpotNoticeWatcherOptions): SpotNoticeWatcher {
  const fetch = options.fetch ?? globalThis.fetch;
  const timeoutMs = options.requestTimeoutMs ?? Math.min(options.pollMs, 2_000);
  const stopping = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let token: string | undefined;
  let lastProblem: string | undefined;

  const request = async (method: 'GET' | 'PUT', url: string, headers: Record<string, string>) => {
    const response = await fetch(url, {
      method,
      headers,
      signal: AbortSignal.any([stopping.signal, AbortSignal.timeout(timeoutMs)]),
    });
    return { status: response.status, body: await response.text() };
  };

  const refreshToken = async (): Promise<void> => {
    const answer = await request('PUT', new URL(TOKEN_PATH, options.url).href, {
      'X-aws-ec2-metadata-token-ttl-seconds': TOKEN_TTL_SECONDS,
    });
    if (answer.status !== 200) throw new Error(`IMDSv2 token request answered HTTP ${answer.status}`);
    token = answer.body.trim();
  };

  const pollOnce = async (): Promise<SpotPollDecision> => {
    const get = () =>
      request('GET', options.url, token === undefined ? {} : { 'X-aws-ec2-metadata-token': token });
    let answer = await get();
    if (decideSpotPoll(answer.status, answer.body).kind === 'token-needed') {
      await refreshToken();
      answer = await get();
    }
    const decision = decideSpotPoll(answer.status, answer.body);
    return decision.kind === 'token-needed'
      ? { kind: 'unexpected', reason: 'HTTP 401 with a token' }
      : decision;
  };

  const loop = async (): Promise<void> => {
    let decision: SpotPollDecision;
    try {
      decision = await pollOnce();
    } catch (error) {
      if (stopping.signal.aborted) return;
      decision = { kind: 'unexpected', reason: error instanceof Error ? error.message : String(error) };
    }
    if (stopping.signal.aborted) return;
    if (decision.kind === 'notice') {
      stopping.abort();
      options.log.info({ url: options.url, ...decision.notice }, 'spot interruption notice');
      options.onNotice(decision.notice);
      return;
    }
    if (decision.kind === 'unexpected' && decision.reason !== lastProblem) {
      options.log.warn(
        { url: options.url, reason: decision.reason },
        'spot notice poll failed; still polling',
      );
    } else if (decision.kind === 'none' && lastProblem !== undefined) {
      options.log.info({ url: options.url }, 'spot notice poll answers again');
    }
    lastProblem = decision.kind === 'unexpected' ? decision.reason : undefined;
    timer = setTimeout(() => void loop(), options.pollMs);
    timer.unref();
  };

  void loop();
  return {
    stop() {
      stopping.abort();
      clearTimeout(timer);
    },
  };
}
