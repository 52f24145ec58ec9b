import { RetryScheduleInvalid } from '../../jobs/deliver/errors/retry-schedule-invalid.js';
import {
  DEFAULT_RETRY_SCHEDULE,
  parseRetrySchedule,
  type RetryPolicy,
} from '../../jobs/deliver/retry-policy.js';
import { InvalidDeliveryConfig } from './errors/invalid-delivery-config.js';
import { WebhookAllowlistInvalid } from './errors/webhook-allowlist-invalid.js';
import { DEFAULT_WEBHOOK_TIMEOUT_MS } from './send-webhook.js';
import { parseWebhookAllowlist, type WebhookAllowlist } from './ssrf-guard.js';

/**
 * Webhook delivery settings, as given in the environment; {@link deliveryConfigFromEnv} checks them, adds
 * the defaults and compiles them into a {@link DeliveryConfig}.
 */
export interface DeliveryOptions {
  /**
   * Hostnames and CIDRs webhooks may reach despite the SSRF guard, comma-separated, e.g.
   * `127.0.0.1/32,localhost,hooks.internal`. Default none: public addresses only. `QUIVER_WEBHOOK_ALLOW`.
   */
  allow?: string;
  /**
   * Delays before attempts 2, 3, … (units ms, s, m, h, d); after the last one the delivery fails. Default
   * `5s,5m,30m,2h,5h,10h,14h,20h,20h` (≈ 3 days). `QUIVER_WEBHOOK_RETRY_SCHEDULE`.
   */
  retrySchedule?: string;
  /** Seconds one attempt may take, connect to end of response. Default 15. `QUIVER_WEBHOOK_TIMEOUT_SECONDS`. */
  timeoutSeconds?: number;
  /** Attempts in progress at once per worker process. Default 8. `QUIVER_WEBHOOK_CONCURRENCY`. */
  concurrency?: number;
}

/** What a process that delivers webhooks runs on. */
export interface DeliveryConfig {
  allowlist: WebhookAllowlist;
  policy: RetryPolicy;
  timeoutMs: number;
  concurrency: number;
}

export const DEFAULT_DELIVERY_CONCURRENCY = 8;

const variables = {
  allow: 'QUIVER_WEBHOOK_ALLOW',
  retrySchedule: 'QUIVER_WEBHOOK_RETRY_SCHEDULE',
  timeoutSeconds: 'QUIVER_WEBHOOK_TIMEOUT_SECONDS',
  concurrency: 'QUIVER_WEBHOOK_CONCURRENCY',
} as const;

/** `value` when it is a positive number (an integer, if asked); `given` is what the user wrote. */
function positive(variable: string, value: number, integer: boolean, given = String(value)): number {
  if (!(value > 0) || !Number.isFinite(value) || (integer && !Number.isInteger(value))) {
    throw new InvalidDeliveryConfig(
      variable,
      `expected a positive ${integer ? 'integer' : 'number'}, got ${JSON.stringify(given)}`,
    );
  }
  return value;
}

/** A number as written in the environment: digits and an optional fraction, nothing else. */
const numberIn = (text: string): number => (/^\d+(\.\d+)?$/.test(text) ? Number(text) : NaN);

function compileAllowlist(text: string): WebhookAllowlist {
  try {
    return parseWebhookAllowlist(text);
  } catch (error) {
    if (error instanceof WebhookAllowlistInvalid)
      throw new InvalidDeliveryConfig(variables.allow, error.message);
    throw error;
  }
}

/**
 * Reads `QUIVER_WEBHOOK_ALLOW` alone: what the API needs to refuse webhook URLs at submission, without
 * the delivery workers' other settings (a bad retry schedule is theirs to report, not the API's).
 *
 * @throws InvalidDeliveryConfig naming `QUIVER_WEBHOOK_ALLOW` when it does not parse.
 */
export function webhookAllowlistFromEnv(env: NodeJS.ProcessEnv = process.env): WebhookAllowlist {
  return compileAllowlist(env[variables.allow]?.trim() ?? '');
}

/**
 * Compiles delivery options (defaults added, values checked).
 *
 * @throws InvalidDeliveryConfig naming the variable whose value is unusable.
 */
export function compileDeliveryOptions(options: DeliveryOptions = {}): DeliveryConfig {
  const allowlist = compileAllowlist(options.allow ?? '');
  let scheduleMs: number[];
  try {
    scheduleMs = parseRetrySchedule(options.retrySchedule ?? DEFAULT_RETRY_SCHEDULE);
  } catch (error) {
    if (error instanceof RetryScheduleInvalid)
      throw new InvalidDeliveryConfig(variables.retrySchedule, error.message);
    throw error;
  }
  const timeoutSeconds = positive(
    variables.timeoutSeconds,
    options.timeoutSeconds ?? DEFAULT_WEBHOOK_TIMEOUT_MS / 1_000,
    false,
  );
  const concurrency = positive(
    variables.concurrency,
    options.concurrency ?? DEFAULT_DELIVERY_CONCURRENCY,
    true,
  );
  return { allowlist, policy: { scheduleMs }, timeoutMs: Math.round(timeoutSeconds * 1_000), concurrency };
}

/**
 * Reads `QUIVER_WEBHOOK_ALLOW`, `QUIVER_WEBHOOK_RETRY_SCHEDULE`, `QUIVER_WEBHOOK_TIMEOUT_SECONDS` and
 * `QUIVER_WEBHOOK_CONCURRENCY` (blank means unset).
 *
 * @throws InvalidDeliveryConfig naming the variable whose value is unusable.
 */
export function deliveryConfigFromEnv(env: NodeJS.ProcessEnv = process.env): DeliveryConfig {
  const text = (name: string): string | undefined => {
    const value = env[name]?.trim();
    return value === undefined || value === '' ? undefined : value;
  };
  const options: DeliveryOptions = {};
  const allow = text(variables.allow);
  if (allow !== undefined) options.allow = allow;
  const schedule = text(variables.retrySchedule);
  if (schedule !== undefined) options.retrySchedule = schedule;
  const timeout = text(variables.timeoutSeconds);
  if (timeout !== undefined)
    options.timeoutSeconds = positive(variables.timeoutSeconds, numberIn(timeout), false, timeout);
  const concurrency = text(variables.concurrency);
  if (concurrency !== undefined)
    options.concurrency = positive(variables.concurrency, numberIn(concurrency), true, concurrency);
  return compileDeliveryOptions(options);
}
