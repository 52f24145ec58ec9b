import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeSpotMetadata {
  /** `http://127.0.0.1:<port>`: a metadata base URL, as `--spot-notice-url` takes it. */
  url: string;
  /** Paths requested so far, in order. */
  requests: string[];
  /** From now on, the notice path answers 200 with this JSON. */
  announce(notice: Record<string, unknown>): void;
  close(): Promise<void>;
}

/**
 * A stand-in for EC2 instance metadata on loopback: `GET /latest/meta-data/spot/instance-action` answers 404
 * until `announce()`, then the notice. Everything else is 404.
 */
export async function startFakeSpotMetadata(): Promise<FakeSpotMetadata> {
  const requests: string[] = [];
  let notice: string | undefined;
  const server: Server = createServer((req, res) => {
    requests.push(req.url ?? '');
    if (req.url === '/latest/meta-data/spot/instance-action' && notice !== undefined) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(notice);
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('Not Found');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    announce(body) {
      notice = JSON.stringify(body);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
