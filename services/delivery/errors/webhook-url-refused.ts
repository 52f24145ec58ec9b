import { QuiverError } from '../../../schemas/errors/quiver-error.js';

/**
 * A webhook URL the SSRF guard will not reach: not http(s), or its host is (or resolves to) an address
 * outside the public internet — loopback, private, link-local (cloud metadata), and the like. Nothing was
 * sent. The message says which address and why, and how an operator lets it through.
 */
export class WebhookUrlRefused extends QuiverError {
  static readonly code = 'WEBHOOK_URL_REFUSED';

  constructor(
    readonly url: string,
    /** Why, in words: `127.0.0.1 is a loopback address`, `the scheme ftp: is not http or https`. */
    readonly reason: string,
    /** The refused address, when the host is (or resolved to) one. */
    readonly address?: string,
  ) {
    super(
      WebhookUrlRefused.code,
      `${WebhookUrlRefused.code}: refused to deliver to ${url}: ${reason}` +
        (address === undefined
          ? ''
          : `. Webhooks reach only public addresses; an operator can allow this one by adding the host or a CIDR such as ${address.includes(':') ? `${address}/128` : `${address}/32`} to QUIVER_WEBHOOK_ALLOW`),
    );
  }
}
