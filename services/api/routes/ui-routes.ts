import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import fastifyStatic from '@fastify/static';
import { Queue } from 'bullmq';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { bullQueueNames } from '../../queue/queues.js';
import type { ApiContext } from '../api-context.js';
import { errorReply } from '../error-reply.js';
import { AdminRequired } from '../errors/admin-required.js';

/** Where the dashboard's static files live: plain HTML, CSS and browser ES modules, no build step. */
const UI_ROOT = join(import.meta.dirname, '../ui');
/** uPlot's browser build, served from the package itself (no CDN). */
const UPLOT_DIST = dirname(createRequire(import.meta.url).resolve('uplot'));
const UPLOT_FILES = new Set(['uPlot.esm.js', 'uPlot.min.css']);

/** Where bull-board is mounted; its service worker (`ui/queues-sw.js`) is scoped to it. */
export const QUEUES_BOARD_PATH = '/ui/queues';

/**
 * The dashboard holds no inline script or style; every byte comes from this origin and data only from
 * `/v1` (the key travels as a Bearer header, never a cookie). It frames only its own queue board.
 */
const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "frame-src 'self'",
  "worker-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * bull-board's page sets inline style attributes and links a web font; styles are allowed inline, the
 * font (another origin) is not, so nothing is downloaded from elsewhere. Framed by the dashboard only.
 */
const BOARD_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self'",
  "base-uri 'self'",
  "form-action 'self'",
  "frame-ancestors 'self'",
].join('; ');

function securityHeaders(csp: string) {
  return (_request: FastifyRequest, reply: FastifyReply, done: () => void): void => {
    void reply.headers({
      'content-security-policy': csp,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'cache-control': 'no-cache',
    });
    done();
  };
}

/**
 * The web dashboard:
 * - `GET /ui/` (and `/ui`, redirected): the page and its modules, public — they hold no data; every data
 *   call is a `/v1` request with the key the user signed in with;
 * - `GET /ui/vendor/uplot/*`: the chart library, from `node_modules`;
 * - `/ui/queues/*`: bull-board over the pipeline's queues, read-only (chunks, plans and deliveries move
 *   only through the pipeline and the API, which keep the job records true), for admin keys only: the
 *   `/v1` gate runs first (401, 429 as there) and then the admin check (403 `ADMIN_REQUIRED`). Browsers
 *   send the key through the dashboard's service worker scoped to this path.
 *
 * The board's queues are opened on its first authorized request and closed with the app.
 */
export async function registerUiRoutes(app: FastifyInstance, context: ApiContext): Promise<void> {
  await app.register(async (ui) => {
    ui.addHook('onRequest', securityHeaders(DASHBOARD_CSP));
    // The page's modules are addressed from `/ui/`.
    ui.get('/ui', { schema: { hide: true } }, (_request, reply) => reply.redirect('/ui/'));
    await ui.register(fastifyStatic, {
      root: UI_ROOT,
      prefix: '/ui/',
      decorateReply: false,
      cacheControl: false,
      allowedPath: (path) => !path.startsWith('/queues/'),
    });
    await ui.register(fastifyStatic, {
      root: UPLOT_DIST,
      prefix: '/ui/vendor/uplot/',
      decorateReply: false,
      cacheControl: false,
      allowedPath: (path) => UPLOT_FILES.has(path.replace(/^\//, '')),
    });
  });

  await app.register(async (board) => registerQueueBoard(app, board, context));
}

async function registerQueueBoard(
  app: FastifyInstance,
  board: FastifyInstance,
  context: ApiContext,
): Promise<void> {
  const { deps, options, authenticate } = context;
  const serverAdapter = new FastifyAdapter().setBasePath(QUEUES_BOARD_PATH);
  const { replaceQueues } = createBullBoard({
    queues: [],
    serverAdapter,
    options: { uiConfig: { boardTitle: 'Quiver queues' } },
  });
  let queues: Queue[] | undefined;
  const openQueues = (): void => {
    if (queues !== undefined) return;
    // The API's own connection: these queues only read, and closing them leaves it open.
    queues = bullQueueNames.map((name) => new Queue(name, { connection: deps.redis, prefix: deps.prefix }));
    replaceQueues(queues.map((queue) => new BullMQAdapter(queue, { readOnlyMode: true })));
  };
  app.addHook('onClose', async () => {
    await Promise.allSettled((queues ?? []).map((queue) => queue.close()));
  });

  board.addHook('onRequest', securityHeaders(BOARD_CSP));
  // bull-board answers errors its own way; the gate's refusals keep the API's error shape.
  board.addHook('onRequest', async (request, reply) => {
    try {
      await authenticate.call(app, request, reply);
      if (request.principal?.admin !== true) throw new AdminRequired(`${QUEUES_BOARD_PATH}`);
    } catch (error) {
      const { statusCode, headers, body } = errorReply(error, options);
      if (statusCode >= 500) request.log.error({ err: error }, 'request failed');
      return reply.code(statusCode).headers(headers).send(body);
    }
    openQueues();
  });
  await board.register(serverAdapter.registerPlugin(), { prefix: QUEUES_BOARD_PATH });
}
