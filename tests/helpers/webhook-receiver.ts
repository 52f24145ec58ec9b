import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

/** One request the receiver got, and what it made of it. */
export interface ReceivedWebhook {
  at: number;
  headers: IncomingHttpHeaders;
  body: string;
  /** The verified payload, when a signature checked out with one of the receiver's secrets. */
  event?: unknown;
  /** Which of the receiver's secrets verified it (index), when one did. */
  verifiedWith?: number;
  /** The status the receiver answered. */
  answered: number;
}

export interface WebhookAnswer {
  status: number;
  headers?: Record<string, string>;
}

export interface WebhookReceiver {
  /** `http://127.0.0.1:<port>/hook`. */
  readonly url: string;
  readonly port: number;
  readonly received: ReceivedWebhook[];
  /** Answers for the next requests, in order; once they are spent, the fallback. */
  answer(...answers: WebhookAnswer[]): void;
  /** The answer once queued answers are spent (default 200). */
  fallback: WebhookAnswer;
  /** Resolves once `count` requests have come in. */
  waitFor(count: number, timeoutMs?: number): Promise<ReceivedWebhook[]>;
  close(): Promise<void>;
}

/**
 * A loopback webhook receiver that verifies every request with the `standardwebhooks` package (an
 * implementation independent of ours) against `secrets`, records it, and answers as told.
 */
export async function startWebhookReceiver(
  options: { secrets?: readonly string[]; port?: number } = {},
): Promise<WebhookReceiver> {
  const verifiers = (options.secrets ?? []).map((secret) => new Webhook(secret));
  const queued: WebhookAnswer[] = [];
  const received: ReceivedWebhook[] = [];
  const waiters = new Set<() => void>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const answer = queued.shift() ?? receiver.fallback;
      const entry: ReceivedWebhook = { at: Date.now(), headers: req.headers, body, answered: answer.status };
      const headers = Object.fromEntries(
        Object.entries(req.headers).filter((e): e is [string, string] => typeof e[1] === 'string'),
      );
      for (const [index, verifier] of verifiers.entries()) {
        try {
          entry.event = verifier.verify(body, headers);
          entry.verifiedWith = index;
          break;
        } catch {
          // Not this secret; the entry stays unverified if none matches.
        }
      }
      received.push(entry);
      for (const wake of waiters) wake();
      res.writeHead(answer.status, answer.headers).end('ok');
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  const receiver: WebhookReceiver = {
    url: `http://127.0.0.1:${port}/hook`,
    port,
    received,
    fallback: { status: 200 },
    answer: (...answers) => void queued.push(...answers),
    waitFor(count, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          if (received.length < count) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(received);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`webhook receiver got ${received.length} requests, expected ${count}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return receiver;
}
