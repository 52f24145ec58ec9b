import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { seededRandom } from './seeded-random.js';

/** What the proxy does to one request. */
export type Fault =
  /** Forward untouched. */
  | { kind: 'pass' }
  /** Answer with this status and an S3 XML error body without forwarding (default 503 SlowDown). */
  | { kind: 'status'; status?: number; code?: string }
  /** Destroy the client socket before any response (the client sees a connection reset). */
  | { kind: 'reset' }
  /**
   * Forward, send the headers and `fraction` (default 0.5) of the body, then destroy the socket. With
   * `clean`, drop Content-Length and end the (chunked) body normally instead: a short body the HTTP layer
   * cannot tell from a complete one, as some gateways produce.
   */
  | { kind: 'truncate'; fraction?: number; clean?: boolean }
  /** Wait `ms`, then forward. */
  | { kind: 'delay'; ms: number };

/** Per-request probabilities of each fault when no script entry is left; they should sum to ≤ 1. */
export interface FaultRates {
  status503?: number;
  reset?: number;
  truncate?: number;
  delay?: number;
  /** Delay used by `delay` faults. Default 20 ms. */
  delayMs?: number;
}

export interface FaultProxyOptions {
  /** Upstream, e.g. the S3 test server's endpoint. */
  target: string;
  /** Faults for the first requests, in order; once used up, `rates` (or pass) applies. */
  script?: Fault[];
  rates?: FaultRates;
  /** Seed of the PRNG that draws faults from `rates`, so a failing run replays exactly. Default 1. */
  seed?: number;
  /** Only requests this accepts may get a fault (others pass); all are counted. Default: every request. */
  applies?: (request: IncomingMessage) => boolean;
}

export interface ProxiedRequest {
  method: string;
  url: string;
  fault: Fault['kind'];
}

export interface FaultProxy {
  /** `http://127.0.0.1:<port>`: point an S3 client here instead of at the target. */
  endpoint: string;
  /** Requests received, in order, with the fault applied to each. */
  readonly requests: readonly ProxiedRequest[];
  /** Number of requests received. */
  readonly requestCount: number;
  /** How many requests got each fault. */
  faultCount(kind: Fault['kind']): number;
  /** Replaces the script and rates and forgets the request log (the PRNG keeps its sequence). */
  configure(options: Pick<FaultProxyOptions, 'script' | 'rates' | 'applies'>): void;
  /** Stops listening, destroys open connections and pending timers. Safe twice. */
  close(): Promise<void>;
}

const s3ErrorMessages: Record<string, string> = {
  SlowDown: 'Please reduce your request rate.',
  ServiceUnavailable: 'Service is unable to handle request.',
  InternalError: 'We encountered an internal error. Please try again.',
};

/**
 * A fault-injecting HTTP proxy on loopback, for proving that storage calls survive throttling, resets and
 * dropped bodies (and that they do not retry what must not be retried: it counts every request).
 */
export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const target = new URL(options.target);
  const random = seededRandom(options.seed ?? 1);
  const agent = new http.Agent({ keepAlive: true });
  const timers = new Set<NodeJS.Timeout>();
  let script = [...(options.script ?? [])];
  let rates: FaultRates = options.rates ?? {};
  let applies = options.applies ?? (() => true);
  let requests: ProxiedRequest[] = [];

  const drawFault = (request: IncomingMessage): Fault => {
    if (!applies(request)) return { kind: 'pass' };
    const scripted = script.shift();
    if (scripted !== undefined) return scripted;
    let roll = random();
    const draws: [number | undefined, Fault][] = [
      [rates.status503, { kind: 'status', status: 503, code: 'SlowDown' }],
      [rates.reset, { kind: 'reset' }],
      [rates.truncate, { kind: 'truncate' }],
      [rates.delay, { kind: 'delay', ms: rates.delayMs ?? 20 }],
    ];
    for (const [rate, fault] of draws) {
      if (rate === undefined) continue;
      if (roll < rate) return fault;
      roll -= rate;
    }
    return { kind: 'pass' };
  };

  const forward = (
    request: IncomingMessage,
    response: ServerResponse,
    truncate?: { fraction: number; clean: boolean },
  ): void => {
    const headers = { ...request.headers };
    // Node answers 100-continue to the client itself; passing Expect upstream would make it wait twice.
    delete headers.expect;
    const upstream = http.request(
      {
        host: target.hostname,
        port: target.port,
        method: request.method,
        path: request.url,
        headers,
        agent,
      },
      (upstreamResponse) => {
        if (truncate === undefined) {
          response.writeHead(upstreamResponse.statusCode ?? 502, upstreamResponse.headers);
          upstreamResponse.pipe(response);
          return;
        }
        const chunks: Buffer[] = [];
        upstreamResponse.on('data', (chunk: Buffer) => chunks.push(chunk));
        upstreamResponse.on('end', () => {
          const body = Buffer.concat(chunks);
          const keep = body.subarray(0, Math.floor(body.length * truncate.fraction));
          if (truncate.clean) {
            const headers = { ...upstreamResponse.headers };
            delete headers['content-length'];
            response.writeHead(upstreamResponse.statusCode ?? 502, headers);
            response.end(keep);
            return;
          }
          response.writeHead(upstreamResponse.statusCode ?? 502, upstreamResponse.headers);
          response.write(keep, () => response.socket?.destroy());
        });
      },
    );
    upstream.on('error', () => response.socket?.destroy());
    request.pipe(upstream);
  };

  const server = http.createServer((request, response) => {
    const fault = drawFault(request);
    requests.push({ method: request.method ?? '', url: request.url ?? '', fault: fault.kind });
    switch (fault.kind) {
      case 'pass':
        forward(request, response);
        return;
      case 'truncate':
        forward(request, response, { fraction: fault.fraction ?? 0.5, clean: fault.clean ?? false });
        return;
      case 'delay': {
        const timer = setTimeout(() => {
          timers.delete(timer);
          forward(request, response);
        }, fault.ms);
        timers.add(timer);
        return;
      }
      case 'reset':
        request.socket.destroy();
        return;
      case 'status': {
        const code = fault.code ?? 'SlowDown';
        const body =
          `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code>` +
          `<Message>${s3ErrorMessages[code] ?? code}</Message><RequestId>fault-proxy</RequestId></Error>`;
        // Drain the request body first so the client is not cut off mid-upload.
        request.resume();
        request.on('end', () => {
          response.writeHead(fault.status ?? 503, {
            'content-type': 'application/xml',
            'content-length': Buffer.byteLength(body),
          });
          response.end(body);
        });
        return;
      }
    }
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    get requests() {
      return requests;
    },
    get requestCount() {
      return requests.length;
    },
    faultCount: (kind) => requests.filter((request) => request.fault === kind).length,
    configure(next) {
      script = [...(next.script ?? [])];
      rates = next.rates ?? {};
      applies = next.applies ?? (() => true);
      requests = [];
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        for (const timer of timers) clearTimeout(timer);
        timers.clear();
        server.close(() => resolve());
        server.closeAllConnections();
        agent.destroy();
      });
      return closing;
    },
  };
}
