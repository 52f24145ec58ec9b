import { RetryScheduleInvalid } from '../../jobs/deliver/errors/retry-schedule-invalid.js';
import { parseRetrySchedule, type RetryPolicy } from '../../jobs/deliver/retry-policy.js';
import { configTable, readConfig } from '../../schemas/config.js';
import { InvalidConfig } from '../../schemas/errors/invalid-config.js';
import { WebhookAllowlistInvalid } from './errors/webhook-allowlist-invalid.js';
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

export const DEFAULT_DELIVERY_CONCURRENCY = configTable.QUIVER_WEBHOOK_CONCURRENCY.default;

function compileAllowlist(text: string): WebhookAllowlist {
  try {
    return parseWebhookAllowlist(text);
  } catch (error) {
    if (error instanceof WebhookAllowlistInvalid)
      throw new InvalidConfig('QUIVER_WEBHOOK_ALLOW', error.message);
    throw error;
  }
}

/**
 * Reads `QUIVER_WEBHOOK_ALLOW` alone: what the API needs to refuse webhook URLs at submission, without
 * the delivery workers' other settings (a bad retry schedule is theirs to report, not the API's).
 *
 * @throws InvalidConfig naming `QUIVER_WEBHOOK_ALLOW` when it does not parse.
 */
export function webhookAllowlistFromEnv(env: NodeJS.ProcessEnv = process.env): WebhookAllowlist {
  return compileAllowlist(readConfig(env, ['QUIVER_WEBHOOK_ALLOW']).QUIVER_WEBHOOK_ALLOW ?? '');
}

/**
 * Compiles delivery options: the table's defaults added, the allowlist and the schedule parsed.
 *
 * @throws InvalidConfig naming the variable whose value is unusable.
 */
export function compileDeliveryOptions(options: DeliveryOptions = {}): DeliveryConfig {
  const allowlist = compileAllowlist(options.allow ?? '');
  let scheduleMs: number[];
  try {
    scheduleMs = parseRetrySchedule(
      options.retrySchedule ?? configTable.QUIVER_WEBHOOK_RETRY_SCHEDULE.default,
    );
  } catch (error) {
    if (error instanceof RetryScheduleInvalid)
      throw new InvalidConfig('QUIVER_WEBHOOK_RETRY_SCHEDULE', error.message);
    throw error;
  }
  const timeoutSeconds = options.timeoutSeconds ?? configTable.QUIVER_WEBHOOK_TIMEOUT_SECONDS.default;
  const concurrency = options.concurrency ?? DEFAULT_DELIVERY_CONCURRENCY;
  return { allowlist, policy: { scheduleMs }, timeoutMs: Math.round(timeoutSeconds * 1_000), concurrency };
}

/**
 * Reads `QUIVER_WEBHOOK_ALLOW`, `QUIVER_WEBHOOK_RETRY_SCHEDULE`, `QUIVER_WEBHOOK_TIMEOUT_SECONDS` and
 * `QUIVER_WEBHOOK_CONCURRENCY` through the config table.
 *
 * @throws InvalidConfig naming the variable whose value is unusable.
 */
export function deliveryConfigFromEnv(env: NodeJS.ProcessEnv = process.env): DeliveryConfig {
  const config = readConfig(env, [
    'QUIVER_WEBHOOK_ALLOW',
    'QUIVER_WEBHOOK_RETRY_SCHEDULE',
    'QUIVER_WEBHOOK_TIMEOUT_SECONDS',
    'QUIVER_WEBHOOK_CONCURRENCY',
  ]);
  return compileDeliveryOptions({
    ...(config.QUIVER_WEBHOOK_ALLOW === undefined ? {} : { allow: config.QUIVER_WEBHOOK_ALLOW }),
    retrySchedule: config.QUIVER_WEBHOOK_RETRY_SCHEDULE,
    timeoutSeconds: config.QUIVER_WEBHOOK_TIMEOUT_SECONDS,
    concurrency: config.QUIVER_WEBHOOK_CONCURRENCY,
  });
}
