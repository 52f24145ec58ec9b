import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { makeRedisDeliveries } from '../delivery/redis-deliveries.js';
import { makeRedisJobStore } from '../queue/job-store.js';
import { makeQueues } from '../queue/queues.js';
import { startDeadlineSweeper } from '../queue/deadline-sweeper.js';
import { systemClock } from '../../jobs/ports/clock.js';
import { makeRedisClient } from '../queue/redis-connection.js';
import { makeScheduleQueue } from '../scheduler/schedule-queue.js';
import { makeRedisScheduleRuns } from '../scheduler/schedule-runs.js';
import { makeRedisScheduleStore } from '../scheduler/schedule-store.js';
import { makeSchedules } from '../scheduler/schedules.js';
import { makeStorage } from '../storage/make-storage.js';
import type { SignalSource } from '../process/drain-on-signals.js';
import { makeS3Presigner } from '../storage/presign.js';
import { logOptionsFromEnv, makeLog } from '../process/log.js';
import { type ApiConfig, loadApiConfig, wantsApiHelp } from './api-options.js';
import { makeApi } from './make-api.js';
import { makeMetricsRegistry, registerJobMetrics, registerQueueMetrics } from '../process/metrics.js';

/** A listening API process: `'running' → 'stopping' → 'stopped'`. */
export interface ApiServer {
  /** `http://<host>:<port>` it listens on (the real port when 0 was asked for). */
  url: string;
  readonly state: 'running' | 'stopping' | 'stopped';
  /**
   * Stops gracefully: no new connections, long-polls answered at once, requests in flight finished, then
   * Redis, queues and storage closed. Resolves 0, or 1 when the grace period ran out first. Safe twice.
   */
  stop(): Promise<number>;
}

/**
 * Connects Redis and storage, builds the API and listens; `log` is the process's and Fastify's request log.
 * Everything opened here is closed by `stop()`, and by a failed start.
 */
export async function startApiServer(config: ApiConfig, log: Logger): Promise<ApiServer> {
  const { api, redis: redisConfig } = config;
  // Requests fail after two retries while Redis is away instead of hanging; /readyz tells the balancer.
  const redis = makeRedisClient(redisConfig, { maxRetriesPerRequest: 2 });
  redis.on('error', (error: Error) => log.error({ err: error }, 'redis error'));
  const onQueueError = (error: Error) => log.error({ err: error }, 'queue error');
  const queues = makeQueues(redis, redisConfig.prefix, onQueueError);
  const scheduleQueue = makeScheduleQueue(redis, redisConfig.prefix, onQueueError);
  const storage = makeStorage(config.storage);
  const presigner = makeS3Presigner(config.storage.s3);
  const store = makeRedisJobStore(redis, redisConfig.prefix);
  const metricsRegistry = makeMetricsRegistry();
  registerQueueMetrics(metricsRegistry, queues);
  registerJobMetrics(metricsRegistry, store);
  const deliveries = makeRedisDeliveries({ redis, prefix: redisConfig.prefix, queues });
  // Deadlines are enforced here too, so a job expires (and its webhook is queued) with no worker running.
  const deadlines = startDeadlineSweeper({
    store,
    queue: queues,
    onTerminal: (record) => deliveries.announce(record),
    now: systemClock,
    log,
  });
  let app: FastifyInstance | undefined;
  const closeConnections = async (): Promise<void> => {
    // Every step runs even when one fails.
    await Promise.allSettled([app?.close(), deadlines.close()]);
    await Promise.allSettled([queues.close(), scheduleQueue.close()]);
    await redis.quit().catch(() => redis.disconnect());
    presigner.close();
    storage.close();
  };

  let url: string;
  try {
    app = await makeApi(
      {
        store,
        queues,
        storage,
        presigner,
        deliveries,
        redis,
        prefix: redisConfig.prefix,
        keys: config.keys,
        tenancy: config.tenancy,
        schedules: makeSchedules(
          makeRedisScheduleStore(redis, redisConfig.prefix),
          scheduleQueue,
          makeRedisScheduleRuns(redis, redisConfig.prefix),
        ),
        metricsRegistry,
      },
      { ...api, loggerInstance: log },
    );
    url = await app.listen({ port: api.port, host: api.host });
  } catch (error) {
    await closeConnections();
    throw error;
  }

  let state: ApiServer['state'] = 'running';
  let stopping: Promise<number> | undefined;
  return {
    url,
    get state() {
      return state;
    },
    stop() {
      stopping ??= (async () => {
        state = 'stopping';
        let timer: NodeJS.Timeout | undefined;
        const graceOver = new Promise<number>((resolve) => {
          timer = setTimeout(() => resolve(1), api.shutdownGraceSeconds * 1000);
        });
        const code = await Promise.race([closeConnections().then(() => 0), graceOver]);
        clearTimeout(timer);
        state = 'stopped';
        return code;
      })();
      return stopping;
    },
  };
}

const stopSignals: NodeJS.Signals[] = ['SIGTERM', 'SIGINT'];
const signalNumbers: Partial<Record<NodeJS.Signals, number>> = { SIGINT: 2, SIGTERM: 15 };

/**
 * Runs the API until a signal: the first SIGTERM/SIGINT stops it gracefully (resolving 0, or 1 if the
 * grace period ran out), a second one exits at once with 128 + the signal's number, as shells report.
 */
export async function runApiServer(
  config: ApiConfig,
  io: { log?: Logger; signals?: SignalSource; exit?: (code: number) => void } = {},
): Promise<number> {
  const log = (io.log ?? makeLog(logOptionsFromEnv(process.env))).child({ service: 'api' });
  const signals = io.signals ?? process;
  const exit = io.exit ?? ((code: number) => process.exit(code));
  const server = await startApiServer(config, log);
  log.info({ url: server.url }, 'api listening');
  return new Promise<number>((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      if (server.state !== 'running') {
        log.error({ signal }, 'second signal: exiting now');
        exit(128 + (signalNumbers[signal] ?? 0));
        return;
      }
      log.info({ signal, graceSeconds: config.api.shutdownGraceSeconds }, 'stopping');
      void server.stop().then((code) => {
        for (const s of stopSignals) signals.off(s, onSignal);
        if (code === 0) log.info({}, 'stopped');
        else log.error({}, 'grace period ran out; exiting with requests still in flight');
        resolve(code);
      });
    };
    for (const s of stopSignals) signals.on(s, onSignal);
  });
}

/**
 * `quiver api`: parses the configuration (invalid values throw here, naming the variable), serves until
 * SIGTERM/SIGINT, and returns the exit code. `--help` prints `usage`; a bad flag prints it and returns 2.
 */
export async function apiMain(args: string[], usage: string): Promise<number> {
  if (wantsApiHelp(args)) {
    process.stdout.write(usage);
    return 0;
  }
  let config: ApiConfig;
  try {
    config = loadApiConfig(args, process.env);
  } catch (error) {
    if (!String((error as { code?: unknown }).code).startsWith('ERR_PARSE_ARGS')) throw error;
    process.stderr.write(`quiver api: ${(error as Error).message}\n\n${usage}`);
    return 2;
  }
  const code = await runApiServer(config);
  // Anything still open (a stuck socket) must not keep a stopped API alive.
  if (code !== 0) process.exit(code);
  return code;
}
