import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { configTable, readConfig, readConfigEntries } from '../../schemas/config.js';
import type { DeviceClass } from '../../schemas/device-class.js';
import { InvalidConfig } from '../../schemas/errors/invalid-config.js';
import { type DeliveryConfig, deliveryConfigFromEnv } from '../delivery/delivery-options.js';
import { type RedisConfig, redisConfigFromEnv } from '../queue/redis-connection.js';
import { type DeviceRequest, parseDeviceList } from '../scoring/devices.js';
import { DeviceListError } from '../scoring/errors/device-list-error.js';
import { type StorageConfig, storageConfigFromEnv } from '../storage/make-storage.js';
import { type Tenancy, loadTenancy } from '../tenancy/tenancy.js';

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
   * Device classes of the chunks each device process takes (`resources.device` of their jobs), whatever
   * device it scores on. Default by device: `cpu,any` on the CPU, `gpu,any` on a GPU. `QUIVER_SCORE_CLASSES`.
   */
  scoreClasses?: DeviceClass[];
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
export type WorkerOptionsWithDefaults = Required<Omit<WorkerOptions, 'spotNoticeUrl' | 'scoreClasses'>> &
  Pick<WorkerOptions, 'spotNoticeUrl' | 'scoreClasses'>;

/** What one worker process runs on: devices parsed, durations in milliseconds, the spot URL resolved. */
export interface CompiledWorkerOptions {
  devices: DeviceRequest[];
  /** The classes every device process takes; undefined: each takes its device's ({@link scoreClassesFor}). */
  scoreClasses?: DeviceClass[];
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

/** The table's defaults, as the fields of {@link WorkerOptions} (the two cache paths are under the temp dir). */
export const workerDefaults = {
  devices: configTable.QUIVER_DEVICES.default,
  shutdownGraceSeconds: configTable.QUIVER_SHUTDOWN_GRACE_SECONDS.defaultByProcess.worker,
  spotPollSeconds: configTable.QUIVER_SPOT_POLL_SECONDS.default,
  lockSeconds: configTable.QUIVER_LOCK_SECONDS.default,
  checkpointSeconds: configTable.QUIVER_CHECKPOINT_SECONDS.default,
  maxOpenModels: configTable.QUIVER_MAX_OPEN_MODELS.default,
  maxChunksPerJob: configTable.QUIVER_MAX_CHUNKS_PER_JOB.default,
  maxModelBytes: configTable.QUIVER_MAX_MODEL_BYTES.default,
  maxRecordBytes: configTable.QUIVER_MAX_RECORD_BYTES.default,
  maxFooterBytes: configTable.QUIVER_MAX_PARQUET_FOOTER_BYTES.default,
} as const;

/** Flags of `quiver worker`; each overrides its environment variable. */
const flags = {
  devices: { type: 'string' },
  'grace-seconds': { type: 'string' },
  'spot-notice-url': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Each option's variable: what {@link parseWorkerOptions} reads from the table. */
const variables = {
  devices: 'QUIVER_DEVICES',
  scoreClasses: 'QUIVER_SCORE_CLASSES',
  shutdownGraceSeconds: 'QUIVER_SHUTDOWN_GRACE_SECONDS',
  spotNoticeUrl: 'QUIVER_SPOT_NOTICE_URL',
  spotPollSeconds: 'QUIVER_SPOT_POLL_SECONDS',
  lockSeconds: 'QUIVER_LOCK_SECONDS',
  checkpointSeconds: 'QUIVER_CHECKPOINT_SECONDS',
  modelCacheDir: 'QUIVER_MODEL_CACHE',
  tuningCachePath: 'QUIVER_TUNING_CACHE',
  maxOpenModels: 'QUIVER_MAX_OPEN_MODELS',
  maxChunksPerJob: 'QUIVER_MAX_CHUNKS_PER_JOB',
  maxModelBytes: 'QUIVER_MAX_MODEL_BYTES',
  maxRecordBytes: 'QUIVER_MAX_RECORD_BYTES',
  maxFooterBytes: 'QUIVER_MAX_PARQUET_FOOTER_BYTES',
} as const satisfies Record<keyof WorkerOptions, string>;

/** The URL polled for `aws`, `off` or a URL (as the table checked it); a URL without a path gets AWS's. */
function resolveSpotNoticeUrl(value: string): string | undefined {
  if (value === 'off') return undefined;
  if (value === 'aws') return AWS_SPOT_NOTICE_URL;
  const url = new URL(value);
  if (url.pathname === '/' && url.search === '') url.pathname = AWS_SPOT_NOTICE_PATH;
  return url.href;
}

/**
 * The device classes a device process takes: `override` (`QUIVER_SCORE_CLASSES`) when given, else its
 * device's own class and `any`. A `gpu` job thus waits on a deployment without GPU workers (or without one
 * told to take `gpu`) rather than running on a CPU.
 */
export function scoreClassesFor(device: DeviceRequest, override?: readonly DeviceClass[]): DeviceClass[] {
  if (override !== undefined) return [...override];
  return device.kind === 'cpu' ? ['cpu', 'any'] : ['gpu', 'any'];
}

/** Whether `quiver worker` was asked for its help, before any value is checked. */
export function wantsWorkerHelp(args: readonly string[]): boolean {
  return args.includes('--help') || args.includes('-h');
}

/**
 * Reads `quiver worker` flags and the environment into {@link WorkerOptions}, checking every value.
 * `host.gpuCount` is what `--devices` is checked against.
 *
 * @throws InvalidConfig naming the variable or flag whose value is unusable; a `TypeError` with
 *   code `ERR_PARSE_ARGS_*` for an unknown flag or a missing value (a usage error).
 */
export function parseWorkerOptions(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  host: { gpuCount: number },
): WorkerOptions {
  const { values } = parseArgs({ args: [...args], options: flags, allowPositionals: false });
  const entries = readConfigEntries(env, Object.values(variables), {
    process: 'worker',
    flags: {
      QUIVER_DEVICES: { flag: '--devices', text: values.devices },
      QUIVER_SHUTDOWN_GRACE_SECONDS: { flag: '--grace-seconds', text: values['grace-seconds'] },
      QUIVER_SPOT_NOTICE_URL: { flag: '--spot-notice-url', text: values['spot-notice-url'] },
    },
  });
  const given = <N extends keyof typeof entries>(name: N) =>
    entries[name].source === 'flag' || entries[name].source === 'env' ? entries[name] : undefined;
  const options: WorkerOptions = {};

  const devices = given('QUIVER_DEVICES');
  if (devices) {
    try {
      parseDeviceList(devices.value, host);
    } catch (error) {
      if (error instanceof DeviceListError) throw new InvalidConfig(devices.as, error.message);
      throw error;
    }
    options.devices = devices.value;
  }
  const classes = given('QUIVER_SCORE_CLASSES');
  if (classes?.value !== undefined) options.scoreClasses = classes.value;
  const spot = given('QUIVER_SPOT_NOTICE_URL');
  if (spot) options.spotNoticeUrl = resolveSpotNoticeUrl(spot.value);
  const numbers = [
    'shutdownGraceSeconds',
    'spotPollSeconds',
    'lockSeconds',
    'checkpointSeconds',
    'maxOpenModels',
    'maxChunksPerJob',
    'maxModelBytes',
    'maxRecordBytes',
    'maxFooterBytes',
  ] as const;
  for (const option of numbers) {
    const entry = given(variables[option]);
    if (entry) options[option] = entry.value;
  }
  const models = given('QUIVER_MODEL_CACHE');
  if (models?.value !== undefined) options.modelCacheDir = models.value;
  const tuning = given('QUIVER_TUNING_CACHE');
  if (tuning?.value !== undefined) options.tuningCachePath = tuning.value;
  return options;
}

export function addWorkerDefaults(options: WorkerOptions): WorkerOptionsWithDefaults {
  return {
    devices: options.devices ?? workerDefaults.devices,
    scoreClasses: options.scoreClasses,
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
  if (options.scoreClasses !== undefined) compiled.scoreClasses = options.scoreClasses;
  return compiled;
}

/**
 * The whole configuration of `quiver worker`: its own options, Redis, storage and webhook delivery.
 * Invalid values throw `InvalidConfig` at start, naming the variable.
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
    ...(readConfig(env, ['QUIVER_TENANTS_FILE']).QUIVER_TENANTS_FILE === undefined
      ? {}
      : { tenancy: loadTenancy(env) }),
  };
}
