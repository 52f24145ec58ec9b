import { parseArgs } from 'node:util';
import ipaddr from 'ipaddr.js';
import { type RedisConfig, redisConfigFromEnv } from '../queue/redis-connection.js';
import { type StorageConfig, storageConfigFromEnv } from '../storage/make-storage.js';
import { webhookAllowlistFromEnv } from '../delivery/delivery-options.js';
import { type WebhookAllowlist, emptyAllowlist } from '../delivery/ssrf-guard.js';
import {
  type ConfigEntry,
  type ConfigName,
  configTable,
  readConfig,
  readConfigEntries,
} from '../../schemas/config.js';
import { InvalidConfig } from '../../schemas/errors/invalid-config.js';
import type { SpecLimits } from '../../schemas/spec-limits.js';
import { type Tenancy, assertGrantsCover, loadTenancy } from '../tenancy/tenancy.js';
import { type ApiKeys, loadApiKeys, parseApiKeys } from './api-keys.js';

/**
 * Options of the HTTP API, as given: environment variables, overridden by flags. Every field is optional;
 * {@link addApiDefaults} fills them in.
 */
export interface ApiOptions {
  /** TCP port to listen on; 0 picks a free one. Default 8080. `QUIVER_API_PORT`, `--port`. */
  port?: number;
  /** Address to listen on. Default `0.0.0.0` (every IPv4 interface). `QUIVER_API_HOST`, `--host`. */
  host?: string;
  /** Largest request body in bytes; a larger one is refused with 413. Default 1 MiB. `QUIVER_API_BODY_LIMIT_BYTES`. */
  bodyLimitBytes?: number;
  /**
   * Jobs a tenant may have active (queued, planning, running, finalizing, cancelling) at once; one more is
   * refused with 429 `TOO_MANY_ACTIVE_JOBS`. Default 100. `QUIVER_API_MAX_ACTIVE_JOBS`.
   */
  maxActiveJobs?: number;
  /** Seconds the 429 for too many active jobs asks clients to wait (`Retry-After`). Default 30. */
  activeJobsRetryAfterSeconds?: number;
  /**
   * Requests a tenant may make per window, counted in Redis so every API process shares the budget; one
   * more is refused with 429 `RATE_LIMITED` and `Retry-After`. Default 1200. `QUIVER_API_RATE_LIMIT`.
   */
  rateLimitMax?: number;
  /** Length of the rate-limit window in seconds. Default 60. `QUIVER_API_RATE_WINDOW_SECONDS`. */
  rateLimitWindowSeconds?: number;
  /**
   * Which proxies in front of the API to believe about the client's address (`X-Forwarded-For`), which the
   * failed-authentication limit counts by and the logs show: `false` (default: the socket's peer), `true`
   * (any), or the proxies' addresses and CIDRs. `QUIVER_API_TRUST_PROXY`.
   */
  trustProxy?: boolean | string[];
  /**
   * Requests without a valid API key one client address may make per window before it gets 429
   * `RATE_LIMITED` instead of 401 (valid keys are never affected). Default 30.
   * `QUIVER_API_AUTH_FAILURE_LIMIT`.
   */
  authFailureLimit?: number;
  /**
   * Lifetime of the presigned URLs `GET /v1/jobs/:id/results` hands out, in seconds (at most 7 days, S3's
   * limit). Default 3600. `QUIVER_API_URL_EXPIRY_SECONDS`.
   */
  resultUrlExpirySeconds?: number;
  /**
   * Seconds a graceful stop (first SIGTERM/SIGINT) may take to finish requests in flight before the
   * process exits anyway. Default 10. `QUIVER_API_SHUTDOWN_GRACE_SECONDS`.
   */
  shutdownGraceSeconds?: number;
  /**
   * Where webhooks may point despite the SSRF guard: a spec whose webhook URL is a literal loopback,
   * private, link-local or otherwise non-public address is refused at submission (400 at `webhook.url`)
   * unless listed. Workers check again, resolving the host, when they deliver. Default none.
   * `QUIVER_WEBHOOK_ALLOW` (hosts and CIDRs), shared with the workers.
   */
  webhookAllow?: WebhookAllowlist;
  /** Longest string in a submitted spec, in UTF-8 bytes. Default 2,048. `QUIVER_SPEC_MAX_STRING_BYTES`. */
  specMaxStringBytes?: number;
  /** Most columns one list of a submitted spec may name. Default 1,000. `QUIVER_SPEC_MAX_COLUMNS`. */
  specMaxColumns?: number;
  /** Most labels of a submitted spec. Default 32. `QUIVER_SPEC_MAX_LABELS`. */
  specMaxLabels?: number;
  /** Smallest `batch.chunkRows` of a submitted spec. Default 1,000. `QUIVER_SPEC_MIN_CHUNK_ROWS`. */
  specMinChunkRows?: number;
}

export type ApiOptionsWithDefaults = Required<ApiOptions>;

export const apiDefaults: ApiOptionsWithDefaults = {
  port: configTable.QUIVER_API_PORT.default,
  host: configTable.QUIVER_API_HOST.default,
  bodyLimitBytes: configTable.QUIVER_API_BODY_LIMIT_BYTES.default,
  maxActiveJobs: configTable.QUIVER_API_MAX_ACTIVE_JOBS.default,
  activeJobsRetryAfterSeconds: 30,
  rateLimitMax: configTable.QUIVER_API_RATE_LIMIT.default,
  rateLimitWindowSeconds: configTable.QUIVER_API_RATE_WINDOW_SECONDS.default,
  authFailureLimit: configTable.QUIVER_API_AUTH_FAILURE_LIMIT.default,
  trustProxy: configTable.QUIVER_API_TRUST_PROXY.default,
  resultUrlExpirySeconds: configTable.QUIVER_API_URL_EXPIRY_SECONDS.default,
  shutdownGraceSeconds: configTable.QUIVER_API_SHUTDOWN_GRACE_SECONDS.default,
  webhookAllow: emptyAllowlist,
  specMaxStringBytes: configTable.QUIVER_SPEC_MAX_STRING_BYTES.default,
  specMaxColumns: configTable.QUIVER_SPEC_MAX_COLUMNS.default,
  specMaxLabels: configTable.QUIVER_SPEC_MAX_LABELS.default,
  specMinChunkRows: configTable.QUIVER_SPEC_MIN_CHUNK_ROWS.default,
};

/** The spec limits these options set (what `parseJobSpec` checks submissions against). */
export function specLimitsOf(options: ApiOptionsWithDefaults): Required<SpecLimits> {
  return {
    maxStringBytes: options.specMaxStringBytes,
    maxColumns: options.specMaxColumns,
    maxLabels: options.specMaxLabels,
    minChunkRows: options.specMinChunkRows,
  };
}

export function addApiDefaults(options: ApiOptions): ApiOptionsWithDefaults {
  const defined = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
  return { ...apiDefaults, ...defined };
}

/** Everything `quiver api` needs from its configuration. */
export interface ApiConfig {
  api: ApiOptionsWithDefaults;
  keys: ApiKeys;
  /** `QUIVER_TENANTS_FILE` and `QUIVER_STORAGE_GRANTS`. */
  tenancy: Tenancy;
  redis: RedisConfig;
  storage: StorageConfig;
}

/** Each option's variable: what {@link parseApiOptions} reads from the table. */
const variables = {
  port: 'QUIVER_API_PORT',
  host: 'QUIVER_API_HOST',
  bodyLimitBytes: 'QUIVER_API_BODY_LIMIT_BYTES',
  maxActiveJobs: 'QUIVER_API_MAX_ACTIVE_JOBS',
  rateLimitMax: 'QUIVER_API_RATE_LIMIT',
  rateLimitWindowSeconds: 'QUIVER_API_RATE_WINDOW_SECONDS',
  authFailureLimit: 'QUIVER_API_AUTH_FAILURE_LIMIT',
  trustProxy: 'QUIVER_API_TRUST_PROXY',
  resultUrlExpirySeconds: 'QUIVER_API_URL_EXPIRY_SECONDS',
  shutdownGraceSeconds: 'QUIVER_API_SHUTDOWN_GRACE_SECONDS',
  specMaxStringBytes: 'QUIVER_SPEC_MAX_STRING_BYTES',
  specMaxColumns: 'QUIVER_SPEC_MAX_COLUMNS',
  specMaxLabels: 'QUIVER_SPEC_MAX_LABELS',
  specMinChunkRows: 'QUIVER_SPEC_MIN_CHUNK_ROWS',
} as const satisfies Partial<Record<keyof ApiOptions, ConfigName>>;

/** The proxies' addresses and CIDRs of `QUIVER_API_TRUST_PROXY`, checked (the table splits the list). */
function checkTrustProxy(entry: ConfigEntry<'QUIVER_API_TRUST_PROXY'>): boolean | string[] {
  if (typeof entry.value === 'boolean') return entry.value;
  const bad = entry.value.find((address) => !ipaddr.isValid(address) && !ipaddr.isValidCIDR(address));
  if (bad !== undefined) {
    throw new InvalidConfig(
      entry.as,
      `expected true, false or IP addresses/CIDRs; "${bad}" is neither, got ${JSON.stringify(entry.text)}`,
    );
  }
  return entry.value;
}

/** Flags of `quiver api`; each overrides its environment variable. */
const flags = {
  port: { type: 'string' },
  host: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Whether `quiver api` was asked for its help, before any value is checked. */
export function wantsApiHelp(args: readonly string[]): boolean {
  return args.includes('--help') || args.includes('-h');
}

/**
 * Reads `quiver api` flags and the environment into {@link ApiOptions} through the config table.
 *
 * @throws InvalidConfig naming the variable or flag whose value is unusable; a `TypeError` with code
 *   `ERR_PARSE_ARGS_*` for an unknown flag or a missing value (a usage error).
 */
export function parseApiOptions(args: readonly string[], env: NodeJS.ProcessEnv): ApiOptions {
  const { values } = parseArgs({ args: [...args], options: flags, allowPositionals: false });
  const entries = readConfigEntries(env, Object.values(variables), {
    process: 'api',
    flags: {
      QUIVER_API_PORT: { flag: '--port', text: values.port },
      QUIVER_API_HOST: { flag: '--host', text: values.host },
    },
  });
  const options: Record<string, unknown> = {};
  for (const [option, name] of Object.entries(variables)) {
    const entry = entries[name];
    if (entry.source === 'flag' || entry.source === 'env') options[option] = entry.value;
  }
  if (options.trustProxy !== undefined) options.trustProxy = checkTrustProxy(entries.QUIVER_API_TRUST_PROXY);
  return options;
}

/**
 * The admin key `infra/k8s/config.yaml` ships as a placeholder. It is public, so an API configured with it
 * refuses to start ({@link loadApiConfig}) rather than serve anyone who read the manifest.
 */
export const PLACEHOLDER_API_KEY = 'replace-me-with-a-long-random-key';

/** Throws InvalidConfig naming the variable that holds {@link PLACEHOLDER_API_KEY}, if any does. */
function refusePlaceholderKey(keys: ApiKeys, env: NodeJS.ProcessEnv): void {
  if (keys.authenticate(PLACEHOLDER_API_KEY) === undefined) return;
  const config = readConfig(env, ['QUIVER_API_KEYS', 'QUIVER_API_KEYS_FILE', 'QUIVER_TENANTS_FILE']);
  const inline = config.QUIVER_API_KEYS;
  const files = (['QUIVER_API_KEYS_FILE', 'QUIVER_TENANTS_FILE'] as const).filter((name) => config[name]);
  const variable =
    inline && parseApiKeys(inline, 'QUIVER_API_KEYS').authenticate(PLACEHOLDER_API_KEY) !== undefined
      ? 'QUIVER_API_KEYS'
      : files.join(' or ') || 'QUIVER_API_KEYS';
  throw new InvalidConfig(
    variable,
    `it holds the placeholder key "${PLACEHOLDER_API_KEY}" that infra/k8s/config.yaml ships; ` +
      'replace it with a long random key (e.g. openssl rand -hex 32)',
  );
}

/**
 * The whole configuration of `quiver api`: its options, its keys, Redis and storage. Invalid values throw
 * `InvalidConfig` at start, naming the variable; so does a
 * key equal to {@link PLACEHOLDER_API_KEY}.
 */
export function loadApiConfig(args: readonly string[], env: NodeJS.ProcessEnv): ApiConfig {
  const tenancy = loadTenancy(env);
  const keys = loadApiKeys(env, undefined, tenancy.file);
  refusePlaceholderKey(keys, env);
  assertGrantsCover(tenancy, keys.tenants);
  return {
    api: addApiDefaults({
      ...parseApiOptions(args, env),
      webhookAllow: webhookAllowlistFromEnv(env),
    }),
    keys,
    tenancy,
    redis: redisConfigFromEnv(env),
    storage: storageConfigFromEnv(env),
  };
}
