import { createHmac } from 'node:crypto';

/** The Standard Webhooks headers of one delivery attempt. */
export interface WebhookHeaders {
  /** The delivery id (`msg_…`), the same on every attempt so receivers can drop duplicates. */
  'webhook-id': string;
  /** Unix seconds when this attempt was signed; receivers refuse stale ones (replay protection). */
  'webhook-timestamp': string;
  /** `v1,<base64 HMAC-SHA256>` per secret, space-separated: during a rotation either secret verifies. */
  'webhook-signature': string;
}

const SECRET_PREFIX = 'whsec_';

/** The HMAC key of a `whsec_<base64>` secret: the bytes its base64 part decodes to. */
function signingKey(secret: string): Buffer {
  return Buffer.from(
    secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret,
    'base64',
  );
}

/**
 * The `webhook-signature` value for `body` sent as message `id` at `timestampSeconds`: for each secret,
 * `v1,` + base64 HMAC-SHA256 of `id.timestamp.body`, space-separated.
 */
export function signWebhook(
  id: string,
  timestampSeconds: number,
  body: string,
  secrets: readonly string[],
): string {
  if (secrets.length === 0) throw new Error('signWebhook needs at least one secret');
  const content = `${id}.${timestampSeconds}.${body}`;
  return secrets
    .map((secret) => `v1,${createHmac('sha256', signingKey(secret)).update(content).digest('base64')}`)
    .join(' ');
}

/** The three Standard Webhooks headers for sending `body` as message `id` at `now`. */
export function webhookHeaders(
  id: string,
  body: string,
  secrets: readonly string[],
  now: Date = new Date(),
): WebhookHeaders {
  const timestamp = Math.floor(now.getTime() / 1_000);
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': signWebhook(id, timestamp, body, secrets),
  };
}
