import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_MAX_CHUNKS_PER_JOB } from '../../jobs/plan/plan-chunks.js';
import { type DeliveryConfig, deliveryConfigFromEnv } from '../delivery/delivery-options.js';
import { type RedisConfig, redisConfigFromEnv } from '../queue/redis-connection.js';
import { type DeviceRequest, parseDeviceList } from '../scoring/devices.js';
import { DeviceListError } from '../scoring/errors/device-list-error.js';
import { DEFAULT_MAX_MODEL_BYTES } from '../scoring/model-store.js';
import { type StorageConfig, storageConfigFromEnv } from '../storage/make-storage.js';
import { type Tenancy, loadTenancy } from '../tenancy/tenancy.js';
import { InvalidWorkerConfig } from './errors/invalid-worker-config.js';

/** AWS's instance-metadata path: 404 until a spot interruption is scheduled, then a JSON notice. */
export const AWS_SPOT_NOTICE_PATH = '/latest/meta-data/spot/instance-action';
export const AWS_SPOT_NOTICE_URL = `http://169.254.169.254${AWS_SPOT_NOTICE_PATH}`;

/**
 * Options of one `quiver worker`, as given: environment variables, overridden by flags. Every field is
 * optional; {@link addWorkerDefaults} fills them and {@link compileWorkerOptions} turns them into the plain
 * numbers the process runs on.
 */
export interface WorkerOptions {
  /**
   * Devices to score on, one worker process each: `cpu`, `all` (every GPU, else the CPU), `gpu:0,1`,
   * `cuda:N`, `webgpu:N`. Default `cpu`. `QUIVER_DEVICES`, `--devices`.
   */
  devices?: string;
  /**
   * Seconds a drain (SIGTERM, SIGINT or a spot notice) may take to finish the chunk in hand before the
   * process exits non-zero and leaves the chunk to be re-run elsewhere once its lock expires. Default 90:
   * under a spot instance's 2-minute notice, with time left to close connections.
   * `QUIVER_SHUTDOWN_GRACE_SECONDS`, `--grace-seconds`.
   */
  shutdownGraceSeconds?: number;
  /**
   * Where to poll for a spot interruption notice; default off. `aws` is AWS's instance-metadata URL; a URL
   * without a path is a metadata base (a proxy, a fake) that AWS's path is appended to; any other URL is
   * polled as is; `off` turns polling off. `QUIVER_SPOT_NOTICE_URL`, `--spot-notice-url`.
   */
  spotNoticeUrl?: string;
  /** Seconds between spot-notice polls. Default 5 (AWS gives 120 s of notice). `QUIVER_SPOT_POLL_SECONDS`. */
  spotPollSeconds?: number;
  /**
   * Seconds a chunk's lock lasts without renewal (it is renewed every half of that while the chunk runs).
   * A hard-killed worker's chunk is re-delivered once its lock has expired, by the next stalled-job check.
   * Default 30. `QUIVER_LOCK_SECONDS`.
   */
  lockSeconds?: number;
  /**
   * Seconds of scoring after which a chunk commits what it has scored so far: a hard-killed worker loses
   * at most this much work. Default 30. `QUIVER_CHECKPOINT_SECONDS`.
   */
  checkpointSeconds?: number;
  /** Content-addressed model cache. Default `<tmp>/quiver-models`. `QUIVER_MODEL_CACHE`. */
  modelCacheDir?: string;
  /** Tuned batch sizes, kept across restarts. Default `<tmp>/quiver-tuning.json`. `QUIVER_TUNING_CACHE`. */
  tuningCachePath?: string;
  /**
   * Model sessions a worker process keeps open at most; beyond it the least recently used idle one is
   * closed. Default 4. `QUIVER_MAX_OPEN_MODELS`.
   */
  maxOpenModels?: number;
  /**
   * Most chunks one job may plan; an input that makes more fails at planning with `TOO_MANY_CHUNKS`.
   * Default 100,000. `QUIVER_MAX_CHUNKS_PER_JOB`.
   */
  maxChunksPerJob?: number;
  /**
   * Largest model object fetched, in bytes; a larger one fails the job with `MODEL_TOO_LARGE` before any
   * byte is read. Default 2 GiB (2147483648). `QUIVER_MAX_MODEL_BYTES`.
   */
  maxModelBytes?: number;
  /**
   * Longest CSV/JSONL record in bytes; a longer one fails the job with `CSV_RECORD_TOO_LONG` /
   * `JSONL_RECORD_TOO_LONG` naming the object and byte offset. Default 64 MiB (67108864).
   * `QUIVER_MAX_RECORD_BYTES`.
   */
  maxRecordBytes?: number;
  /**
   * Largest Parquet footer read, in bytes; a file declaring a larger one fails with
   * `PARQUET_FOOTER_TOO_LARGE` before it is fetched. Default 64 MiB (67108864). `QUIVER_MAX_PARQUET_FOOTER_BYTES`.
   */
  maxFooterBytes?: number;
}

/** {@link WorkerOptions} with every default filled; `spotNoticeUrl` stays undefined when polling is off. */
export type WorkerOptionsWithDefaults = Required<Omit<WorkerOptions, 'spotNoticeUrl'>> &
  Pick<WorkerOptions, 'spotNoticeUrl'>;

/** What one worker process runs on: devices parsed, durations in milliseconds, the spot URL resolved. */
export interface CompiledWorkerOptions {
  devices: DeviceRequest[];
  shutdownGraceMs: number;
  /** The URL polled for a spot notice; undefined when polling is off. */
  spotNoticeUrl?: string;
  spotPollMs: number;
  lockDurationMs: number;
  checkpointMs: number;
  modelCacheDir: string;
  tuningCachePath: string;
  maxOpenModels: number;
  maxChunksPerJob: number;
  maxModelBytes: number;
  maxRecordBytes: number;
  maxFooterBytes: number;
}

/** Everything a worker process needs from its configuration. */
export interface WorkerConfig {
  worker: CompiledWorkerOptions;
  redis: RedisConfig;
  storage: StorageConfig;
  /** Webhook delivery: SSRF allowlist, retry schedule, timeout (`QUIVER_WEBHOOK_*`). */
  delivery: DeliveryConfig;
  /**
   * `QUIVER_TENANTS_FILE`: every job's listings, reads and writes are checked against its tenant's grants.
   * Undefined without the file: the worker trusts what the API admitted.
   */
  tenancy?: Tenancy;
}

export const workerDefaults = {
  devices: 'cpu',
  shutdownGraceSeconds: 90,
  spotPollSeconds: 5,
  lockSeconds: 30,
  checkpointSeconds: 30,
  maxOpenModels: 4,
  maxChunksPerJob: DEFAULT_MAX_CHUNKS_PER_JOB,
  maxModelBytes: DEFAULT_MAX_MODEL_BYTES,
  maxRecordBytes: 64 * 1024 * 1024,
  maxFooterBytes: 64 * 1024 * 1024,
} as const;

/** Flags of `quiver worker`; each overrides its environment variable. */
const flags = {
  devices: { type: 'string' },
  'grace-seconds': { type: 'string' },
  'spot-notice-url': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** A value and where it came from, so an error names what the user actually set. */
interface Given {
  text: string;
  source: string;
}

function fromEnv(env: NodeJS.ProcessEnv, name: string): Given | undefined {
  const text = env[name]?.trim();
  return text === undefined || text === '' ? undefined : { text, source: name };
}

function fromFlagOrEnv(
  flag: string | undefined,
  flagName: string,
  env: NodeJS.ProcessEnv,
  name: string,
): Given | undefined {
  return flag === undefined ? fromEnv(env, name) : { text: flag.trim(), source: flagName };
}

function positiveSeconds(value: Given): number {
  const seconds = /^\d+(\.\d+)?$/.test(value.text) ? Number(value.text) : NaN;
  if (!(seconds > 0) || !Number.isFinite(seconds)) {
    throw new InvalidWorkerConfig(
      value.source,
      `expected a positive number of seconds, got ${JSON.stringify(value.text)}`,
    );
  }
  return seconds;
}

function positiveCount(value: Given): number {
  const count = /^\d+$/.test(value.text) ? Number(value.text) : NaN;
  if (!(count >= 1) || !Number.isSafeInteger(count))
    throw new InvalidWorkerConfig(
      value.source,
      `expected a whole number of at least 1, got ${JSON.stringify(value.text)}`,
    );
  return count;
}

function spotNoticeUrl(value: Given): string | undefined {
  const word = value.text.toLowerCase();
  if (word === 'off') return undefined;
  if (word === 'aws') return AWS_SPOT_NOTICE_URL;
  if (!URL.canParse(value.text) || !/^https?:$/.test(new URL(value.text).protocol)) {
    throw new InvalidWorkerConfig(
      value.source,
      `expected aws, off or an http(s) URL, got ${JSON.stringify(value.text)}`,
    );
  }
  const url = new URL(value.text);
  if (url.pathname === '/' && url.search === '') url.pathname = AWS_SPOT_NOTICE_PATH;
  return url.href;
}

/** Whether `quiver worker` was asked for its help, before any value is checked. */
export function wantsWorkerHelp(args: readonly string[]): boolean {
  return args.includes('--help') || args.includes('-h');
}

/**
 * Reads `quiver worker` flags and the environment into {@link WorkerOptions}, checking every value.
 * `host.gpuCount` is what `--devices` is checked against.
 *
 * @throws InvalidWorkerConfig naming the variable or flag whose value is unusable; a `TypeError` with
 *   code `ERR_PARSE_ARGS_*` for an unknown flag or a missing value (a usage error).
 */
export function parseWorkerOptions(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  host: { gpuCount: number },
): WorkerOptions {
  const { values } = parseArgs({ args: [...args], options: flags, allowPositionals: false });
  const options: WorkerOptions = {};

  const devices = fromFlagOrEnv(values.devices, '--devices', env, 'QUIVER_DEVICES');
  if (devices) {
    try {
      parseDeviceList(devices.text, host);
    } catch (error) {
      if (error instanceof DeviceListError) throw new InvalidWorkerConfig(devices.source, error.message);
      throw error;
    }
    options.devices = devices.text;
  }
  const grace = fromFlagOrEnv(
    values['grace-seconds'],
    '--grace-seconds',
    env,
    'QUIVER_SHUTDOWN_GRACE_SECONDS',
  );
  if (grace) options.shutdownGraceSeconds = positiveSeconds(grace);
  const spot = fromFlagOrEnv(values['spot-notice-url'], '--spot-notice-url', env, 'QUIVER_SPOT_NOTICE_URL');
  if (spot) options.spotNoticeUrl = spotNoticeUrl(spot);
  const poll = fromEnv(env, 'QUIVER_SPOT_POLL_SECONDS');
  if (poll) options.spotPollSeconds = positiveSeconds(poll);
  const lock = fromEnv(env, 'QUIVER_LOCK_SECONDS');
  if (lock) options.lockSeconds = positiveSeconds(lock);
  const checkpoint = fromEnv(env, 'QUIVER_CHECKPOINT_SECONDS');
  if (checkpoint) options.checkpointSeconds = positiveSeconds(checkpoint);
  const models = fromEnv(env, 'QUIVER_MODEL_CACHE');
  if (models) options.modelCacheDir = models.text;
  const tuning = fromEnv(env, 'QUIVER_TUNING_CACHE');
  if (tuning) options.tuningCachePath = tuning.text;
  const maxOpenModels = fromEnv(env, 'QUIVER_MAX_OPEN_MODELS');
  if (maxOpenModels) options.maxOpenModels = positiveCount(maxOpenModels);
  const maxChunks = fromEnv(env, 'QUIVER_MAX_CHUNKS_PER_JOB');
  if (maxChunks) options.maxChunksPerJob = positiveCount(maxChunks);
  const maxModelBytes = fromEnv(env, 'QUIVER_MAX_MODEL_BYTES');
  if (maxModelBytes) options.maxModelBytes = positiveCount(maxModelBytes);
  const maxRecordBytes = fromEnv(env, 'QUIVER_MAX_RECORD_BYTES');
  if (maxRecordBytes) options.maxRecordBytes = positiveCount(maxRecordBytes);
  const maxFooterBytes = fromEnv(env, 'QUIVER_MAX_PARQUET_FOOTER_BYTES');
  if (maxFooterBytes) options.maxFooterBytes = positiveCount(maxFooterBytes);
  return options;
}

export function addWorkerDefaults(options: WorkerOptions): WorkerOptionsWithDefaults {
  return {
    devices: options.devices ?? workerDefaults.devices,
    shutdownGraceSeconds: options.shutdownGraceSeconds ?? workerDefaults.shutdownGraceSeconds,
    spotNoticeUrl: options.spotNoticeUrl,
    spotPollSeconds: options.spotPollSeconds ?? workerDefaults.spotPollSeconds,
    lockSeconds: options.lockSeconds ?? workerDefaults.lockSeconds,
    checkpointSeconds: options.checkpointSeconds ?? workerDefaults.checkpointSeconds,
    modelCacheDir: options.modelCacheDir ?? join(tmpdir(), 'quiver-models'),
    tuningCachePath: options.tuningCachePath ?? join(tmpdir(), 'quiver-tuning.json'),
    maxOpenModels: options.maxOpenModels ?? workerDefaults.maxOpenModels,
    maxChunksPerJob: options.maxChunksPerJob ?? workerDefaults.maxChunksPerJob,
    maxModelBytes: options.maxModelBytes ?? workerDefaults.maxModelBytes,
    maxRecordBytes: options.maxRecordBytes ?? workerDefaults.maxRecordBytes,
    maxFooterBytes: options.maxFooterBytes ?? workerDefaults.maxFooterBytes,
  };
}

export function compileWorkerOptions(
  options: WorkerOptionsWithDefaults,
  host: { gpuCount: number },
): CompiledWorkerOptions {
  const compiled: CompiledWorkerOptions = {
    devices: parseDeviceList(options.devices, host),
    shutdownGraceMs: Math.round(options.shutdownGraceSeconds * 1000),
    spotPollMs: Math.max(1, Math.round(options.spotPollSeconds * 1000)),
    lockDurationMs: Math.max(1, Math.round(options.lockSeconds * 1000)),
    checkpointMs: Math.max(1, Math.round(options.checkpointSeconds * 1000)),
    modelCacheDir: options.modelCacheDir,
    tuningCachePath: options.tuningCachePath,
    maxOpenModels: options.maxOpenModels,
    maxChunksPerJob: options.maxChunksPerJob,
    maxModelBytes: options.maxModelBytes,
    maxRecordBytes: options.maxRecordBytes,
    maxFooterBytes: options.maxFooterBytes,
  };
  if (options.spotNoticeUrl !== undefined) compiled.spotNoticeUrl = options.spotNoticeUrl;
  return compiled;
}

/**
 * The whole configuration of `quiver worker`: its own options, Redis, storage and webhook delivery.
 * Invalid values throw at start, naming the variable (InvalidWorkerConfig, InvalidRedisConfig,
 * InvalidStorageConfig, InvalidDeliveryConfig).
 */
export function loadWorkerConfig(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  host: { gpuCount: number },
): WorkerConfig {
  const worker = compileWorkerOptions(addWorkerDefaults(parseWorkerOptions(args, env, host)), host);
  return {
    worker,
    redis: redisConfigFromEnv(env),
    storage: storageConfigFromEnv(env),
    delivery: deliveryConfigFromEnv(env),
    ...(env.QUIVER_TENANTS_FILE?.trim() ? { tenancy: loadTenancy(env) } : {}),
  };
}
