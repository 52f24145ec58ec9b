import { parseArgs } from 'node:util';
import ipaddr from 'ipaddr.js';
import { z } from 'zod';
import { type RedisConfig, redisConfigFromEnv } from '../queue/redis-connection.js';
import { type StorageConfig, storageConfigFromEnv } from '../storage/make-storage.js';
import { webhookAllowlistFromEnv } from '../delivery/delivery-options.js';
import { type WebhookAllowlist, emptyAllowlist } from '../delivery/ssrf-guard.js';
import { type SpecLimits, specLimitDefaults } from '../../schemas/spec-limits.js';
import { type Tenancy, assertGrantsCover, loadTenancy } from '../tenancy/tenancy.js';
import { type ApiKeys, loadApiKeys, parseApiKeys } from './api-keys.js';
import { InvalidApiConfig } from './errors/invalid-api-config.js';

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
  port: 8080,
  host: '0.0.0.0',
  bodyLimitBytes: 1024 * 1024,
  maxActiveJobs: 100,
  activeJobsRetryAfterSeconds: 30,
  rateLimitMax: 1200,
  rateLimitWindowSeconds: 60,
  authFailureLimit: 30,
  trustProxy: false,
  resultUrlExpirySeconds: 3600,
  shutdownGraceSeconds: 10,
  webhookAllow: emptyAllowlist,
  specMaxStringBytes: specLimitDefaults.maxStringBytes,
  specMaxColumns: specLimitDefaults.maxColumns,
  specMaxLabels: specLimitDefaults.maxLabels,
  specMinChunkRows: specLimitDefaults.minChunkRows,
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

const wholeNumber = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, 'expected a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));

/** `true`/`false`, or comma-separated proxy addresses and CIDRs. */
const trustProxySchema = z.string().transform((text, context): boolean | string[] => {
  if (text === 'true' || text === 'false') return text === 'true';
  const entries = text.split(',').map((entry) => entry.trim());
  const bad = entries.find((entry) => !ipaddr.isValid(entry) && !ipaddr.isValidCIDR(entry));
  if (bad !== undefined) {
    context.addIssue({
      code: 'custom',
      message: `expected true, false or IP addresses/CIDRs; "${bad}" is neither`,
    });
    return z.NEVER;
  }
  return entries;
});

/** Each setting: its variable, its flag (if any) and the zod schema its text must pass. */
const settings = {
  port: { variable: 'QUIVER_API_PORT', flag: '--port', schema: wholeNumber(0, 65535) },
  host: { variable: 'QUIVER_API_HOST', flag: '--host', schema: z.string().min(1).max(255) },
  bodyLimitBytes: {
    variable: 'QUIVER_API_BODY_LIMIT_BYTES',
    schema: wholeNumber(1024, 1024 * 1024 * 1024),
  },
  maxActiveJobs: { variable: 'QUIVER_API_MAX_ACTIVE_JOBS', schema: wholeNumber(1, 1_000_000) },
  rateLimitMax: { variable: 'QUIVER_API_RATE_LIMIT', schema: wholeNumber(1, 1_000_000_000) },
  rateLimitWindowSeconds: {
    variable: 'QUIVER_API_RATE_WINDOW_SECONDS',
    schema: wholeNumber(1, 24 * 3600),
  },
  authFailureLimit: { variable: 'QUIVER_API_AUTH_FAILURE_LIMIT', schema: wholeNumber(1, 1_000_000_000) },
  trustProxy: { variable: 'QUIVER_API_TRUST_PROXY', schema: trustProxySchema },
  resultUrlExpirySeconds: {
    variable: 'QUIVER_API_URL_EXPIRY_SECONDS',
    schema: wholeNumber(1, 7 * 24 * 3600),
  },
  shutdownGraceSeconds: {
    variable: 'QUIVER_API_SHUTDOWN_GRACE_SECONDS',
    schema: wholeNumber(1, 3600),
  },
  specMaxStringBytes: { variable: 'QUIVER_SPEC_MAX_STRING_BYTES', schema: wholeNumber(64, 1024 * 1024) },
  specMaxColumns: { variable: 'QUIVER_SPEC_MAX_COLUMNS', schema: wholeNumber(1, 1_000_000) },
  specMaxLabels: { variable: 'QUIVER_SPEC_MAX_LABELS', schema: wholeNumber(0, 10_000) },
  specMinChunkRows: { variable: 'QUIVER_SPEC_MIN_CHUNK_ROWS', schema: wholeNumber(1, 1_000_000_000) },
} satisfies Record<
  string,
  { variable: string; flag?: string; schema: z.ZodType<number | string | boolean | string[], string> }
>;

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
 * Reads `quiver api` flags and the environment into {@link ApiOptions}, checking every value with zod.
 *
 * @throws InvalidApiConfig naming the variable or flag whose value is unusable; a `TypeError` with code
 *   `ERR_PARSE_ARGS_*` for an unknown flag or a missing value (a usage error).
 */
export function parseApiOptions(args: readonly string[], env: NodeJS.ProcessEnv): ApiOptions {
  const { values } = parseArgs({ args: [...args], options: flags, allowPositionals: false });
  const given: Record<string, string | undefined> = { port: values.port, host: values.host };
  const options: Record<string, unknown> = {};
  for (const [name, setting] of Object.entries(settings)) {
    const flagValue = given[name];
    const flag = 'flag' in setting ? setting.flag : undefined;
    const text = (flagValue ?? env[setting.variable])?.trim();
    if (text === undefined || text === '') continue;
    const result = setting.schema.safeParse(text);
    if (!result.success) {
      const source = flagValue !== undefined && flag !== undefined ? flag : setting.variable;
      const reason = result.error.issues.map((issue) => issue.message).join('; ');
      throw new InvalidApiConfig(source, `${reason} (got ${JSON.stringify(text)})`);
    }
    options[name] = result.data;
  }
  return options;
}

/**
 * The admin key `infra/k8s/config.yaml` ships as a placeholder. It is public, so an API configured with it
 * refuses to start ({@link loadApiConfig}) rather than serve anyone who read the manifest.
 */
export const PLACEHOLDER_API_KEY = 'replace-me-with-a-long-random-key';

/** Throws InvalidApiConfig naming the variable that holds {@link PLACEHOLDER_API_KEY}, if any does. */
function refusePlaceholderKey(keys: ApiKeys, env: NodeJS.ProcessEnv): void {
  if (keys.authenticate(PLACEHOLDER_API_KEY) === undefined) return;
  const inline = env.QUIVER_API_KEYS?.trim();
  const files = ['QUIVER_API_KEYS_FILE', 'QUIVER_TENANTS_FILE'].filter((name) => env[name]?.trim());
  const variable =
    inline && parseApiKeys(inline, 'QUIVER_API_KEYS').authenticate(PLACEHOLDER_API_KEY) !== undefined
      ? 'QUIVER_API_KEYS'
      : files.join(' or ') || 'QUIVER_API_KEYS';
  throw new InvalidApiConfig(
    variable,
    `it holds the placeholder key "${PLACEHOLDER_API_KEY}" that infra/k8s/config.yaml ships; ` +
      'replace it with a long random key (e.g. openssl rand -hex 32)',
  );
}

/**
 * The whole configuration of `quiver api`: its options, its keys, Redis and storage. Invalid values throw
 * at start, naming the variable (InvalidApiConfig, InvalidRedisConfig, InvalidStorageConfig); so does a
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
