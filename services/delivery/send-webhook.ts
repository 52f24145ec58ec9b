import type { WebhookRequest } from '../../jobs/ports/webhook-sender.js';
import http from 'node:http';
import https from 'node:https';
import type { AttemptOutcome } from '../../jobs/deliver/retry-policy.js';
import { WebhookUrlRefused } from './errors/webhook-url-refused.js';
import { emptyAllowlist, guardWebhookUrl, type Resolve, type WebhookAllowlist } from './ssrf-guard.js';
import { webhookHeaders } from './webhook-signing.js';
import { type Clock, systemClock } from '../../jobs/ports/clock.js';

/** One signed POST of an event. */
export interface SendWebhookOptions {
  /** Hosts and ranges the SSRF guard lets through. Default: none (public addresses only). */
  allowlist?: WebhookAllowlist;
  /** How long an attempt may take, connect to end of response. Default {@link DEFAULT_WEBHOOK_TIMEOUT_MS}. */
  timeoutMs?: number;
  /** Hostname resolution at connect time. Default the system resolver (`dns.lookup`). */
  resolve?: Resolve;
  /** Signing clock. Default `() => new Date()`. */
  now?: Clock;
}

export const DEFAULT_WEBHOOK_TIMEOUT_MS = 15_000;
export const WEBHOOK_USER_AGENT = 'Quiver-Webhooks/1 (+https://www.standardwebhooks.com/)';

/** Seconds a `Retry-After` value asks for (delta-seconds or an HTTP-date); undefined when unusable. */
export function parseRetryAfter(value: string | undefined, now: Date = new Date()): number | undefined {
  const text = value?.trim();
  if (text === undefined || text === '') return undefined;
  if (/^\d+$/.test(text)) return Number(text);
  // Every HTTP-date form starts with the day's name; V8's Date.parse would take "-5" for a year.
  const at = /^[A-Za-z]{3}/.test(text) ? Date.parse(text) : NaN;
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - now.getTime()) / 1_000));
}

/**
 * POSTs one signed event and says what came of it; never throws for the receiver's sake. The URL goes
 * through the SSRF guard first and the connection resolves through it (a refused address is `refused`
 * with nothing sent). Redirects are never followed: a 3xx is a failed attempt. The response body is read
 * and dropped.
 */
export function sendWebhook(
  request: WebhookRequest,
  options: SendWebhookOptions = {},
): Promise<AttemptOutcome> {
  const now = options.now ?? systemClock;
  let guarded;
  try {
    guarded = guardWebhookUrl(request.url, options.allowlist ?? emptyAllowlist, options.resolve);
  } catch (error) {
    if (error instanceof WebhookUrlRefused) return Promise.resolve({ kind: 'refused', error: error.message });
    throw error;
  }
  const timeoutMs = options.timeoutMs ?? DEFAULT_WEBHOOK_TIMEOUT_MS;
  const headers = {
    ...webhookHeaders(request.id, request.body, request.secrets, now()),
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(request.body)),
    'user-agent': WEBHOOK_USER_AGENT,
  };
  const send = guarded.url.protocol === 'https:' ? https.request : http.request;
  return new Promise<AttemptOutcome>((resolve) => {
    let outcome: AttemptOutcome | undefined;
    const settle = (result: AttemptOutcome): void => {
      clearTimeout(timer);
      resolve(result);
    };
    const req = send(
      guarded.url,
      // A fresh connection per attempt (no agent pooling): every connect goes through the guarded lookup.
      { method: 'POST', headers, agent: false, ...(guarded.lookup ? { lookup: guarded.lookup } : {}) },
      (res) => {
        const statusCode = res.statusCode ?? 0;
        const retryAfterSeconds = parseRetryAfter(res.headers['retry-after'], now());
        const error =
          statusCode >= 300 && statusCode < 400
            ? `redirect not followed (${statusCode} to ${res.headers.location ?? 'no location'})`
            : statusCode >= 200 && statusCode < 300
              ? undefined
              : `receiver answered ${statusCode}`;
        outcome = {
          kind: 'response',
          statusCode,
          ...(retryAfterSeconds === undefined ? {} : { retryAfterSeconds }),
          ...(error === undefined ? {} : { error }),
        };
        const done = outcome;
        res.on('end', () => settle(done));
        res.on('close', () => settle(done));
        res.on('error', () => settle(done));
        res.resume();
      },
    );
    const timer = setTimeout(
      () => req.destroy(new Error(`no answer within ${timeoutMs / 1_000} s`)),
      timeoutMs,
    );
    req.on('error', (error: NodeJS.ErrnoException) => {
      // An answer already in hand stands, whatever happens to the rest of its body.
      if (outcome) return settle(outcome);
      if (error instanceof WebhookUrlRefused) return settle({ kind: 'refused', error: error.message });
      settle({ kind: 'network-error', error: error.message || String(error.code) });
    });
    req.end(request.body);
  });
}
