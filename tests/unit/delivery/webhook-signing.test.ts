import { randomBytes } from 'node:crypto';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { jobWebhookSchema } from '../../../schemas/job-spec.js';
import { signWebhook, webhookHeaders } from '../../../services/delivery/webhook-signing.js';

const newSecret = (): string => `whsec_${randomBytes(24).toString('base64')}`;
const body = JSON.stringify({
  type: 'job.succeeded',
  timestamp: '2026-11-28T01:00:00.000Z',
  data: { id: 'j1' },
});

describe('Standard Webhooks signing (checked with the standardwebhooks package)', () => {
  it('signs id.timestamp.body so the reference verifier accepts it and returns the payload', () => {
    const secret = newSecret();
    const now = new Date();
    const headers = webhookHeaders('msg_abc', body, [secret], now);
    expect(headers['webhook-id']).toBe('msg_abc');
    expect(headers['webhook-timestamp']).toBe(String(Math.floor(now.getTime() / 1000)));
    expect(headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+={0,2}$/);
    expect(new Webhook(secret).verify(body, { ...headers })).toEqual(JSON.parse(body));
  });

  it('produces the same signature as the reference implementation', () => {
    const secret = newSecret();
    const at = new Date('2026-11-28T01:02:03Z');
    expect(signWebhook('msg_x', at.getTime() / 1000, body, [secret])).toBe(
      new Webhook(secret).sign('msg_x', at, body),
    );
  });

  it('during a rotation carries one signature per secret, and either secret verifies', () => {
    const current = newSecret();
    const previous = newSecret();
    const headers = webhookHeaders('msg_rot', body, [current, previous]);
    expect(headers['webhook-signature'].split(' ')).toHaveLength(2);
    expect(new Webhook(current).verify(body, { ...headers })).toEqual(JSON.parse(body));
    expect(new Webhook(previous).verify(body, { ...headers })).toEqual(JSON.parse(body));
    expect(() => new Webhook(newSecret()).verify(body, { ...headers })).toThrow(WebhookVerificationError);
  });

  it('fails verification when the body, the id or the timestamp is tampered with', () => {
    const secret = newSecret();
    const headers = webhookHeaders('msg_t', body, [secret]);
    const verifier = new Webhook(secret);
    expect(() => verifier.verify(body.replace('j1', 'j2'), { ...headers })).toThrow(WebhookVerificationError);
    expect(() => verifier.verify(body, { ...headers, 'webhook-id': 'msg_other' })).toThrow(
      WebhookVerificationError,
    );
    const earlier = String(Number(headers['webhook-timestamp']) - 1);
    expect(() => verifier.verify(body, { ...headers, 'webhook-timestamp': earlier })).toThrow(
      WebhookVerificationError,
    );
  });

  it('accepts an optional previousSecret in the job spec, strictly', () => {
    const url = 'https://hooks.example.com/q';
    const parsed = jobWebhookSchema.parse({ url, secret: newSecret(), previousSecret: newSecret() });
    expect(parsed.previousSecret).toMatch(/^whsec_/);
    expect(jobWebhookSchema.safeParse({ url, secret: newSecret(), previousSecret: 'nope' }).success).toBe(
      false,
    );
    expect(jobWebhookSchema.safeParse({ url, secret: newSecret(), secrets: [] }).success).toBe(false);
  });
});
