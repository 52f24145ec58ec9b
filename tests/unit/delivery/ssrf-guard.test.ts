import type { LookupAddress } from 'node:dns';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WebhookAllowlistInvalid } from '../../../services/delivery/errors/webhook-allowlist-invalid.js';
import { WebhookUrlRefused } from '../../../services/delivery/errors/webhook-url-refused.js';
import {
  emptyAllowlist,
  guardWebhookUrl,
  nonPublicReason,
  parseWebhookAllowlist,
  type Resolve,
  type WebhookAllowlist,
} from '../../../services/delivery/ssrf-guard.js';
import { thrown } from '../../helpers/thrown.js';

/** Runs the guard's connect-time lookup for `host`, as node's http client would (with `all`, or not). */
function lookUp(
  url: string,
  allowlist: WebhookAllowlist,
  resolve?: Resolve,
  all = true,
): Promise<LookupAddress[] | string> {
  const { lookup } = guardWebhookUrl(url, allowlist, resolve);
  if (!lookup) throw new Error(`no lookup for ${url}`);
  return new Promise((done, fail) =>
    lookup(new URL(url).hostname, { all }, (error, address) => (error ? fail(error) : done(address))),
  );
}

const resolvesTo =
  (...addresses: string[]): Resolve =>
  (_host, callback) =>
    callback(
      null,
      addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 })),
    );

describe('SSRF guard', () => {
  it.each([
    ['http://127.0.0.1:8080/hook', '127.0.0.1', 'loopback'],
    ['http://[::1]/hook', '::1', 'loopback'],
    ['http://10.1.2.3/', '10.1.2.3', 'private'],
    ['http://172.16.0.1/', '172.16.0.1', 'private'],
    ['http://192.168.1.1/', '192.168.1.1', 'private'],
    ['http://100.64.0.1/', '100.64.0.1', 'carrier-grade NAT'],
    ['http://169.254.169.254/latest/meta-data/', '169.254.169.254', 'metadata'],
    ['http://[::ffff:127.0.0.1]/', '::ffff:7f00:1', 'loopback'],
    ['http://[::ffff:a9fe:a9fe]/', '::ffff:a9fe:a9fe', 'link-local'],
    ['http://0.0.0.0/', '0.0.0.0', 'unspecified'],
    ['http://[::]/', '::', 'unspecified'],
    ['http://[fd00::1]/', 'fd00::1', 'unique-local'],
    ['http://[fe80::1]/', 'fe80::1', 'link-local'],
    ['http://224.0.0.1/', '224.0.0.1', 'multicast'],
    ['http://255.255.255.255/', '255.255.255.255', 'broadcast'],
    ['http://[64:ff9b::a00:1]/', '64:ff9b::a00:1', 'NAT64'],
    ['http://[::7f00:1]/', '::7f00:1', 'IPv4-compatible'],
    ['http://[2002:7f00:1::]/', '2002:7f00:1::', '6to4'],
    // WHATWG URL parsing turns these into 127.0.0.1 before the guard sees them.
    ['http://2130706433/', '127.0.0.1', 'loopback'],
    ['http://0x7f.1/', '127.0.0.1', 'loopback'],
  ])('refuses %s (%s, %s) before anything is sent', (url, address, why) => {
    const error = thrown(WebhookUrlRefused, () => guardWebhookUrl(url, emptyAllowlist));
    expect(error.code).toBe('WEBHOOK_URL_REFUSED');
    expect(error.address).toBe(address);
    expect(error.message).toContain(address);
    expect(error.message).toContain(why);
    expect(error.message).toContain('QUIVER_WEBHOOK_ALLOW');
  });

  it.each(['ftp://hooks.example.com/', 'file:///etc/passwd', 'gopher://example.com/', 'not a url'])(
    'refuses %s: http and https only',
    (url) => {
      const error = thrown(WebhookUrlRefused, () => guardWebhookUrl(url, emptyAllowlist));
      expect(error.reason).toMatch(/not http or https|not a URL/);
    },
  );

  it.each(['http://93.184.216.34/hook', 'https://8.8.8.8/', 'https://[2606:4700:4700::1111]/x'])(
    'lets the public address of %s through (classification only)',
    (url) => {
      expect(guardWebhookUrl(url, emptyAllowlist)).toEqual({ url: new URL(url) });
    },
  );

  it('judges IPv4-mapped IPv6 addresses as the IPv4 address they carry', () => {
    const octet = fc.integer({ min: 0, max: 255 });
    fc.assert(
      fc.property(fc.tuple(octet, octet, octet, octet), (octets) => {
        const v4 = octets.join('.');
        expect(nonPublicReason(`::ffff:${v4}`)).toBe(nonPublicReason(v4));
      }),
    );
    fc.assert(
      fc.property(fc.tuple(octet, octet, octet), ([a, b, c]) => {
        expect(nonPublicReason(`10.${a}.${b}.${c}`)).toContain('private');
        expect(nonPublicReason(`127.${a}.${b}.${c}`)).toContain('loopback');
        expect(nonPublicReason(`169.254.${b}.${c}`)).toContain('link-local');
      }),
    );
  });

  it('resolves hostnames at connect time and refuses one that resolves to a private address', async () => {
    const guarded = guardWebhookUrl('http://localhost:9/hook', emptyAllowlist);
    expect(guarded.lookup).toBeDefined();
    const error = await lookUp('http://localhost:9/hook', emptyAllowlist).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WebhookUrlRefused);
    expect((error as WebhookUrlRefused).message).toMatch(/(127\.0\.0\.1|::1) is a loopback address/);
  });

  it('refuses a host when any of its addresses is not public (the connection may pick any)', async () => {
    const mixed = resolvesTo('93.184.216.34', '10.0.0.7');
    const error = await lookUp('https://rebind.example/', emptyAllowlist, mixed).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WebhookUrlRefused);
    expect((error as WebhookUrlRefused).address).toBe('10.0.0.7');
  });

  it('hands public addresses to the connection, in both lookup forms', async () => {
    const resolve = resolvesTo('93.184.216.34', '2606:4700:4700::1111');
    await expect(lookUp('https://hooks.example/', emptyAllowlist, resolve)).resolves.toEqual([
      { address: '93.184.216.34', family: 4 },
      { address: '2606:4700:4700::1111', family: 6 },
    ]);
    await expect(lookUp('https://hooks.example/', emptyAllowlist, resolve, false)).resolves.toBe(
      '93.184.216.34',
    );
  });

  it('lets allowlisted hosts and ranges through, and nothing else', async () => {
    const allow = parseWebhookAllowlist('127.0.0.1/32, LocalHost ,hooks.internal,fd00::/8,192.168.7.7');
    expect(guardWebhookUrl('http://127.0.0.1:8080/', allow).lookup).toBeUndefined();
    expect(() => guardWebhookUrl('http://[::ffff:127.0.0.1]/', allow)).not.toThrow();
    expect(() => guardWebhookUrl('http://[fd00::1]/', allow)).not.toThrow();
    expect(() => guardWebhookUrl('http://192.168.7.7/', allow)).not.toThrow();
    expect(() => guardWebhookUrl('http://127.0.0.2/', allow)).toThrow(WebhookUrlRefused);
    expect(() => guardWebhookUrl('http://192.168.7.8/', allow)).toThrow(WebhookUrlRefused);
    expect(() => guardWebhookUrl('http://[::1]/', allow)).toThrow(WebhookUrlRefused);
    // An allowlisted name connects wherever it resolves; other names still go through the guard.
    expect(guardWebhookUrl('http://localhost:8080/', allow).lookup).toBeUndefined();
    expect(guardWebhookUrl('http://hooks.internal/', allow).lookup).toBeUndefined();
    await expect(lookUp('http://other.internal/', allow, resolvesTo('127.0.0.1'))).resolves.toEqual([
      { address: '127.0.0.1', family: 4 },
    ]);
    await expect(lookUp('http://other.internal/', allow, resolvesTo('127.0.0.9'))).rejects.toBeInstanceOf(
      WebhookUrlRefused,
    );
  });

  it.each(['not a host!', '10.0.0.0/33', 'http://x.example', 'a..b'])(
    'refuses the allowlist entry %j',
    (entry) => {
      const error = thrown(WebhookAllowlistInvalid, () => parseWebhookAllowlist(`localhost,${entry}`));
      expect(error.code).toBe('WEBHOOK_ALLOWLIST_INVALID');
      expect(error.entry).toBe(entry);
    },
  );

  it('an empty allowlist allows nothing extra', () => {
    expect(parseWebhookAllowlist(' , ')).toEqual(emptyAllowlist);
  });
});
