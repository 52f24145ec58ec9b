import { lookup as dnsLookup } from 'node:dns';
import type { LookupAddress } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';
import { WebhookAllowlistInvalid } from './errors/webhook-allowlist-invalid.js';
import { WebhookUrlRefused } from './errors/webhook-url-refused.js';

type Address = ipaddr.IPv4 | ipaddr.IPv6;

/**
 * Where webhooks may go despite the guard (`QUIVER_WEBHOOK_ALLOW`): hostnames let through whatever they
 * resolve to, and address ranges. Empty by default: only public unicast addresses are reached.
 */
export interface WebhookAllowlist {
  /** Lower-case hostnames (or literal addresses as written in URLs, without brackets). */
  hosts: ReadonlySet<string>;
  ranges: ReadonlyArray<[Address, number]>;
}

export const emptyAllowlist: WebhookAllowlist = { hosts: new Set(), ranges: [] };

const HOSTNAME =
  /^(?=.{1,253}$)[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*\.?$/;

/**
 * Parses a comma-separated allowlist of hostnames and CIDRs, e.g. `127.0.0.1/32,localhost,fd00::/8`. A bare
 * address is the same as its /32 (/128).
 *
 * @throws WebhookAllowlistInvalid naming the first entry that is neither.
 */
export function parseWebhookAllowlist(text: string): WebhookAllowlist {
  const hosts = new Set<string>();
  const ranges: Array<[Address, number]> = [];
  for (const raw of text.split(',')) {
    const entry = raw.trim().toLowerCase();
    if (entry === '') continue;
    const bare = entry.replace(/^\[(.*)\]$/, '$1');
    if (ipaddr.isValidCIDR(bare)) ranges.push(ipaddr.parseCIDR(bare));
    else if (isIP(bare) !== 0) {
      const address = ipaddr.parse(bare);
      ranges.push([address, address.kind() === 'ipv4' ? 32 : 128]);
    } else if (HOSTNAME.test(entry)) hosts.add(entry.replace(/\.$/, ''));
    else throw new WebhookAllowlistInvalid(raw.trim());
  }
  return { hosts, ranges };
}

/** `::a.b.c.d` (IPv4-compatible, deprecated): ipaddr.js calls it unicast, but it embeds an IPv4 address. */
const ipv4Compatible = ipaddr.IPv6.parseCIDR('::/96');

/** Words for the ranges ipaddr.js names; any other non-unicast range is described by its name. */
const rangeWords: Record<string, string> = {
  loopback: 'a loopback address',
  private: 'a private (RFC 1918) address',
  uniqueLocal: 'a unique-local (private) IPv6 address',
  linkLocal: 'a link-local address (cloud metadata services such as 169.254.169.254 live there)',
  carrierGradeNat: 'a carrier-grade NAT (100.64.0.0/10) address',
  unspecified: 'the unspecified address',
  multicast: 'a multicast address',
  broadcast: 'the broadcast address',
  reserved: 'a reserved address',
  rfc6052: 'a NAT64 address (it reaches an embedded IPv4 address)',
  rfc6145: 'an IPv4-translated address',
  '6to4': 'a 6to4 address (it reaches an embedded IPv4 address)',
  teredo: 'a Teredo address (it reaches an embedded IPv4 address)',
  ipv4Compatible: 'an IPv4-compatible IPv6 address (it reaches an embedded IPv4 address)',
};

/**
 * Why `address` is not a public unicast address (`a loopback address`, …), or undefined when it is one.
 * IPv4-mapped IPv6 addresses (`::ffff:127.0.0.1`) are judged as the IPv4 address they carry.
 */
export function nonPublicReason(address: string): string | undefined {
  const parsed = ipaddr.process(address);
  let range: string = parsed.range();
  if (range === 'unicast' && parsed.kind() === 'ipv6' && parsed.match(ipv4Compatible))
    range = 'ipv4Compatible';
  if (range === 'unicast') return undefined;
  return rangeWords[range] ?? `in the ${range} range, not a public address`;
}

function inAllowedRange(address: string, allowlist: WebhookAllowlist): boolean {
  const forms = [ipaddr.parse(address), ipaddr.process(address)];
  return allowlist.ranges.some(([network, bits]) =>
    forms.some((form) => form.kind() === network.kind() && form.match(network, bits)),
  );
}

/** Throws WebhookUrlRefused when `address` is neither public nor in an allowed range. */
function checkAddress(url: string, address: string, allowlist: WebhookAllowlist): void {
  const reason = nonPublicReason(address);
  if (reason !== undefined && !inAllowedRange(address, allowlist)) {
    throw new WebhookUrlRefused(url, `${address} is ${reason}`, address);
  }
}

/** Resolves a hostname to every address it has (as `dns.lookup` with `all: true`). */
export type Resolve = (
  hostname: string,
  callback: (error: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void,
) => void;

const systemResolve: Resolve = (hostname, callback) => dnsLookup(hostname, { all: true }, callback);

/** A URL the guard let through, with what the HTTP request must use to stay guarded. */
export interface GuardedUrl {
  url: URL;
  /**
   * The `lookup` the request must connect with: it resolves the host at connect time and refuses the
   * connection when any address is not allowed, so DNS rebinding between a check and the connect cannot
   * get through. Undefined for a literal address (already checked) or an allowlisted hostname.
   */
  lookup?: LookupFunction;
}

/**
 * Checks a webhook URL before anything is sent: http or https only; a literal address must be public or
 * allowlisted; a hostname gets a guarded `lookup` (see {@link GuardedUrl}).
 *
 * @throws WebhookUrlRefused saying which address was refused and why.
 */
export function guardWebhookUrl(
  text: string,
  allowlist: WebhookAllowlist,
  resolve: Resolve = systemResolve,
): GuardedUrl {
  if (!URL.canParse(text)) throw new WebhookUrlRefused(text, 'it is not a URL');
  const url = new URL(text);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new WebhookUrlRefused(text, `the scheme ${url.protocol} is not http or https`);
  }
  // WHATWG URLs already normalise 2130706433, 0x7f.1 and the like to dotted quads; IPv6 keeps brackets.
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (allowlist.hosts.has(host.replace(/\.$/, ''))) return { url };
  if (isIP(host) !== 0) {
    checkAddress(text, host, allowlist);
    return { url };
  }
  const lookup: LookupFunction = (hostname, options, callback) => {
    resolve(hostname, (error, resolved) => {
      if (error) return callback(error, '', 0);
      const family = options.family === 4 || options.family === 6 ? options.family : undefined;
      const addresses = resolved.filter((a) => family === undefined || a.family === family);
      try {
        if (addresses.length === 0) throw new WebhookUrlRefused(text, `${hostname} has no address`);
        // Every address, not just the first: with several, the connection may try any of them.
        for (const { address } of addresses) checkAddress(text, address, allowlist);
      } catch (refused) {
        return callback(refused as NodeJS.ErrnoException, '', 0);
      }
      if (options.all) return callback(null, addresses);
      const [first] = addresses as [LookupAddress];
      callback(null, first.address, first.family);
    });
  };
  return { url, lookup };
}
