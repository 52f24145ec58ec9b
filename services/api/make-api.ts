import fastifyRateLimit from '@fastify/rate-limit';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import Fastify, {
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type FastifyBaseLogger,
} from 'fastify';
import { type ZodTypeProvider, jsonSchemaTransform } from 'fastify-type-provider-zod';
import { jobStatusChannel } from '../queue/job-store.js';
import { type ApiContext, type ApiDeps, type ZodFastify } from './api-context.js';
import { specAuthorizer } from '../tenancy/authorize-spec.js';
import { makeAuthenticate } from './authenticate.js';
import { registerBodyParsers } from './body-parsers.js';
import { type ApiOptions, addApiDefaults } from './api-options.js';
import { RouteNotFound } from './errors/route-not-found.js';
import { errorReply } from './error-reply.js';
import { makeJobWatcher } from '../queue/job-watcher.js';
import { duplicateClient } from '../queue/redis-connection.js';
import { validatorCompiler } from './request-validation.js';
import { registerDeliveryRoutes } from './routes/delivery-routes.js';
import { registerHealthRoutes } from './routes/health-routes.js';
import { registerMetricsRoutes } from './routes/metrics-routes.js';
import { registerJobRoutes } from './routes/job-routes.js';
import { registerQueueRoutes } from './routes/queue-routes.js';
import { registerScheduleRoutes } from './routes/schedule-routes.js';
import { registerUiRoutes } from './routes/ui-routes.js';
import { systemClock } from '../../jobs/ports/clock.js';

export type { ApiDeps } from './api-context.js';

/** {@link ApiOptions} that shape the app (listening ones are `apiMain`'s), plus its logger. */
export interface MakeApiOptions extends Omit<ApiOptions, 'port' | 'host' | 'shutdownGraceSeconds'> {
  /**
   * The process's logger (`makeLog`), which Fastify's request logs go through too, its redaction
   * included. Default none: nothing is logged.
   */
  loggerInstance?: FastifyBaseLogger;
}

/** How long start-up waits for the status subscription before serving anyway. */
const SUBSCRIBE_WAIT_MS = 2_000;

/**
 * The Quiver HTTP API as a Fastify instance, ready to `listen()` (or `inject()` in tests); nothing is
 * listening yet. Routes:
 * - `POST /v1/jobs`, `GET /v1/jobs/:id`, `GET /v1/jobs`, `POST /v1/jobs/:id/cancel`, `POST /v1/jobs/:id/retry`,
 *   `GET /v1/jobs/:id/results`, `GET /v1/jobs/:id/deliveries`, `POST /v1/jobs/:id/deliveries/:deliveryId/retry`
 *   — Bearer API key required, scoped to its tenant, rate limited per tenant; `GET /v1/queues` (admin);
 * - with `deps.schedules`: `POST /v1/schedules`, `GET /v1/schedules`, `GET /v1/schedules/:name`,
 *   `DELETE /v1/schedules/:name`, `POST /v1/schedules/:name/run` (writes need the admin scope);
 * - `GET /healthz`, `GET /readyz`, `GET /openapi.json` (OpenAPI 3.1), `GET /docs` (Swagger UI), and with
 *   `deps.metricsRegistry` `GET /metrics` (Prometheus) — public.
 *
 * Every error is `{ error: { code, message, problems? } }` with a stable code. `close()` ends long-polls at
 * once and closes the API's own subscriber connection; the caller closes `deps`.
 */
export async function makeApi(deps: ApiDeps, options: MakeApiOptions = {}): Promise<FastifyInstance> {
  const { loggerInstance, ...rest } = options;
  const settings = addApiDefaults(rest);
  const sendError = (error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply => {
    const { statusCode, headers, body } = errorReply(error, settings);
    if (statusCode >= 500) request.log.error({ err: error }, 'request failed');
    return reply.code(statusCode).headers(headers).send(body);
  };

  const app = Fastify({
    ...(loggerInstance ? { loggerInstance } : { logger: false }),
    bodyLimit: settings.bodyLimitBytes,
    trustProxy: settings.trustProxy,
    // Bad URLs (broken percent-encoding) get the same error shape as everything else.
    frameworkErrors: (error, request, reply) => {
      sendError(error, request, reply);
    },
  });

  const closing = new AbortController();
  const watcher = makeJobWatcher(duplicateClient(deps.redis), jobStatusChannel(deps.prefix), (error) =>
    app.log.error({ err: error }, 'status subscriber error'),
  );
  // Long-polls also re-read on a timer, so a slow or failed subscribe (Redis down at start) delays wake-ups
  // instead of keeping the API from starting; /readyz reports Redis.
  app.addHook('onReady', async () => {
    await Promise.race([
      watcher.start().catch((error: unknown) => app.log.error({ err: error }, 'status subscription failed')),
      new Promise((resolve) => setTimeout(resolve, SUBSCRIBE_WAIT_MS).unref()),
    ]);
  });
  // Before the server waits for requests in flight: held long-polls answer now instead of at their timeout.
  app.addHook('preClose', (done) => {
    closing.abort();
    done();
  });
  // Requests answered while closing end their connection, or keep-alive would hold the close open.
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (closing.signal.aborted) void reply.header('connection', 'close');
    done(null, payload);
  });
  app.addHook('onClose', () => watcher.close());

  registerBodyParsers(app);

  app.setErrorHandler((error, request, reply) => sendError(error, request, reply));
  app.setNotFoundHandler((request, reply) =>
    sendError(new RouteNotFound(request.method, request.url), request, reply),
  );

  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Quiver API',
        version: '1',
        description:
          'Batch scoring jobs: submit, watch, cancel, fetch results, inspect webhook deliveries. Every `/v1` ' +
          'call needs `Authorization: Bearer <API key>` and acts for the key’s tenant.',
      },
      components: { securitySchemes: { apiKey: { type: 'http', scheme: 'bearer' } } },
      security: [{ apiKey: [] }],
    },
    transform: jsonSchemaTransform,
  });
  await app.register(fastifySwaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { schema: { hide: true } }, () => app.swagger());

  await app.register(fastifyRateLimit, {
    global: false,
    redis: deps.redis,
    nameSpace: `${deps.prefix}:rate:`,
    max: settings.rateLimitMax,
    timeWindow: settings.rateLimitWindowSeconds * 1000,
    // Redis trouble shows in /readyz and in the requests themselves; it does not lock every tenant out.
    skipOnError: true,
  });

  const maxActiveJobsFor = (tenant: string): number | undefined =>
    deps.tenancy?.maxActiveJobsFor(tenant) ?? settings.maxActiveJobs;
  const context: ApiContext = {
    deps,
    options: settings,
    maxActiveJobsFor,
    limitedStore: {
      ...deps.store,
      create: (spec, o) =>
        deps.store.create(spec, { ...o, maxActiveJobs: maxActiveJobsFor(o?.tenant ?? 'default') }),
    },
    authorize: deps.tenancy ? specAuthorizer(deps.tenancy) : () => Promise.resolve(),
    watcher,
    closing: closing.signal,
    now: deps.now ?? systemClock,
    // One gate, one failure limiter, for `/v1` and the queue board alike.
    authenticate: makeAuthenticate(app, deps.keys, {
      max: settings.authFailureLimit,
      windowMs: settings.rateLimitWindowSeconds * 1000,
    }),
  };

  await app.register(async (scope) => {
    const zodScope: ZodFastify = scope.withTypeProvider<ZodTypeProvider>();
    zodScope.setValidatorCompiler(validatorCompiler);
    // Replies are typed against their schemas at compile time (the zod type provider), and every record has
    // been parsed on its way out of Redis; checking them again per reply would only cost latency.
    zodScope.setSerializerCompiler(() => (data) => JSON.stringify(data));
    registerHealthRoutes(zodScope, context);
    if (deps.metricsRegistry) registerMetricsRoutes(zodScope, deps.metricsRegistry);

    await zodScope.register(
      (v1, _options, done) => {
        v1.addHook('onRequest', context.authenticate);
        registerJobRoutes(v1, context);
        registerDeliveryRoutes(v1, context);
        registerQueueRoutes(v1, context);
        if (deps.schedules) registerScheduleRoutes(v1, context, deps.schedules);
        done();
      },
      { prefix: '/v1' },
    );
  });
  await registerUiRoutes(app, context);
  return app;
}
