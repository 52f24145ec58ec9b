import { WebhookUrlRefused } from '../delivery/errors/webhook-url-refused.js';
import { type WebhookAllowlist, guardWebhookUrl } from '../delivery/ssrf-guard.js';

/**
 * Why the SSRF guard refuses a webhook URL by its literal address (127.0.0.1, [::1], 10.0.0.1,
 * 169.254.169.254, [::ffff:127.0.0.1], …), or undefined when it passes. Job submissions and schedule
 * templates both ask, so the user hears it at once, at the field, instead of from a delivery that never
 * leaves. Hostnames are resolved, and checked, only when a worker delivers.
 */
export function literalWebhookRefusal(url: string | undefined, allow: WebhookAllowlist): string | undefined {
  if (url === undefined) return undefined;
  try {
    guardWebhookUrl(url, allow);
    return undefined;
  } catch (error) {
    if (!(error instanceof WebhookUrlRefused)) throw error;
    return error.message;
  }
}
