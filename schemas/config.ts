import { z } from 'zod';
import { type DeviceClass, deviceClasses } from './device-class.js';
import { InvalidConfig } from './errors/invalid-config.js';
import { specLimitDefaults } from './spec-limits.js';

/**
 * The one table of every `QUIVER_*` variable: its parser, its default, a line of documentation, whether it
 * is a secret and which processes read it. Every process reads its variables through {@link readConfig};
 * the options modules (`services/*\/*-options.ts`) compile what it returns into what they run on; the
 * README's settings table and `quiver config` are generated from it. A value is trimmed first, and a
 * blank one counts as unset.
 */

/** The processes that read settings: `quiver api`, `quiver worker`, `quiver scheduler`, the job commands. */
export const configProcesses = ['api', 'worker', 'scheduler', 'cli'] as const;
export type ConfigProcess = (typeof configProcesses)[number];

/** A parser: trimmed, non-blank text in, a value out; each issue's message is a reason ("expected …"). */
type Parser<T> = z.ZodType<T, string>;

const DIGITS = /^\d+$/;
const DECIMAL = /^\d+(\.\d+)?$/;

/** `min`…`max` inclusive, digits only (no sign, no fraction, no exponent, no unit suffix). */
export function wholeNumber(min: number, max: number = Number.MAX_SAFE_INTEGER, unit = ''): Parser<number> {
  const of = unit ? ` of ${unit}` : '';
  const range = max === Number.MAX_SAFE_INTEGER ? `of at least ${min}` : `from ${min} to ${max}`;
  return z
    .string()
    .refine((text) => DIGITS.test(text) && Number(text) >= min && Number(text) <= max, {
      message: `expected a whole number${of} ${range}`,
    })
    .transform(Number);
}

/** A count: a whole number of at least 1. */
export const positiveInteger = (): Parser<number> => wholeNumber(1);

/** A size in bytes: a whole number, no unit suffix (`2GiB` is refused, `2147483648` is not). */
export const bytes = (min = 1, max?: number): Parser<number> => wholeNumber(min, max, 'bytes');

/** Digits with an optional fraction, above zero and finite: `0.5`, `30`; not `1e3`, `-1`, `5s`, `Infinity`. */
export function positiveNumber(unit: string): Parser<number> {
  return z
    .string()
    .refine((text) => DECIMAL.test(text) && Number(text) > 0 && Number.isFinite(Number(text)), {
      message: `expected a positive number of ${unit}`,
    })
    .transform(Number);
}

/** Seconds, fractions allowed. */
export const seconds = (): Parser<number> => positiveNumber('seconds');

/** One of `values`, case-insensitively; the value is the canonical (lower-case) spelling. */
export function oneOf<const V extends readonly [string, ...string[]]>(values: V): Parser<V[number]> {
  const expected = values.length === 2 ? `${values[0]} or ${values[1]}` : `one of ${values.join(', ')}`;
  return z
    .string()
    .transform((text) => text.toLowerCase())
    .refine((text): text is V[number] => values.includes(text), { message: `expected ${expected}` });
}

/** `true` or `false`, case-insensitively. */
export const boolean = (): Parser<boolean> => oneOf(['true', 'false']).transform((word) => word === 'true');

/** Comma-separated entries, each trimmed (an empty one is kept, so `a,,b` reaches the item check). */
export const list = (): Parser<string[]> =>
  z.string().transform((text) => text.split(',').map((entry) => entry.trim()));

/** A URL whose protocol is one of `protocols` (`http:`, `rediss:`…); `described` names them in the error. */
export function url(protocols: readonly string[], described: string): Parser<string> {
  return z.string().refine((text) => URL.canParse(text) && protocols.includes(new URL(text).protocol), {
    message: `expected ${described} URL`,
  });
}

/** `off`, or what `parser` accepts; the reason names both. */
export function orOff<T>(parser: Parser<T>, expected: string): Parser<T | 'off'> {
  return z.string().transform((text, context): T | 'off' => {
    if (text.toLowerCase() === 'off') return 'off';
    const result = parser.safeParse(text);
    if (result.success) return result.data;
    context.addIssue({ code: 'custom', message: `expected ${expected} or "off"` });
    return z.NEVER;
  });
}

/** Free text: a path, a name, a list that its own module parses further. */
export const text = (maxChars = 4096): Parser<string> =>
  z.string().max(maxChars, { message: `expected at most ${maxChars} characters` });

/** One setting of the table. `D` is the default's type: `undefined` when the setting has none. */
export interface Setting<T = unknown, D extends T | undefined = T | undefined> {
  parser: Parser<T>;
  /** The value when unset; absent when unset means "off" or when the default is computed at run time. */
  default?: D;
  /** A default per process, for a variable two processes read with different defaults. */
  defaultByProcess?: Partial<Record<ConfigProcess, T>>;
  /** The default as the README and `quiver config` show it, when it is not {@link default} as is. */
  shownDefault?: string;
  /** One line for the README: what it sets and what it accepts. */
  doc: string;
  /** Never printed: `quiver config` shows `****`, errors leave the value out. A function masks part of it. */
  secret?: true | ((text: string) => string);
  /** The processes that read it. */
  processes: readonly ConfigProcess[];
}

/** A table entry, its default's and per-process defaults' types kept so {@link readConfig}'s result is exact. */
function setting<
  T,
  const D extends T | undefined = undefined,
  const B extends Partial<Record<ConfigProcess, T>> | undefined = undefined,
>(s: Setting<T, D> & { defaultByProcess?: B }): Setting<T, D> & { default: D; defaultByProcess: B } {
  return s as Setting<T, D> & { default: D; defaultByProcess: B };
}

/** `user:password@` of a URL becomes `user:****@`: the rest stays readable. */
export function maskUrlPassword(text: string): string {
  return text.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*:)[^@/]*@/i, '$1****@');
}

/** `aws`, `off` (in any case, returned lower-case) or an http(s) URL (returned as written). */
const spotNoticeParser: Parser<string> = z.string().transform((given, context) => {
  const word = given.toLowerCase();
  if (word === 'aws' || word === 'off') return word;
  if (URL.canParse(given) && /^https?:$/.test(new URL(given).protocol)) return given;
  context.addIssue({ code: 'custom', message: 'expected aws, off or an http(s) URL' });
  return z.NEVER;
});

/** Comma-separated device classes (`cpu`, `gpu`, `any`), at least one, each once; returned lower-case. */
const scoreClassesParser: Parser<DeviceClass[]> = z.string().transform((given, context) => {
  const classes = given.split(',').map((entry) => entry.trim().toLowerCase());
  const unknown = classes.find((c) => !(deviceClasses as readonly string[]).includes(c));
  if (unknown !== undefined) {
    context.addIssue({ code: 'custom', message: `expected a list of cpu, gpu, any; got "${unknown}"` });
    return z.NEVER;
  }
  if (new Set(classes).size !== classes.length) {
    context.addIssue({ code: 'custom', message: 'expected each of cpu, gpu, any at most once' });
    return z.NEVER;
  }
  return classes as DeviceClass[];
});

/** `true`, `false` (exactly), or comma-separated addresses and CIDRs, which `api-options` checks. */
const trustProxyParser: Parser<boolean | string[]> = z
  .string()
  .transform((given): boolean | string[] =>
    given === 'true' || given === 'false' ? given === 'true' : list().parse(given),
  );

/** Redis Cluster hashes only what lies between the first `{` and the next `}`, when that is non-empty. */
const hashTagPrefix: Parser<string> = z.string().regex(/^[^{]*\{[^}]+\}/, {
  message: 'expected a hash tag such as {quiver} so every key lands in one Redis Cluster slot',
});

/** `host:port,…`: the nodes of a Redis Cluster or the Sentinels of a master (IPv6 hosts in brackets). */
const hostPorts: Parser<string[]> = z.string().transform((given, context) => {
  const nodes = given.split(',').map((entry) => entry.trim());
  const valid = (node: string) => {
    const m = /^(\[[0-9a-fA-F:]+\]|[^:\s[\]]+):(\d{1,5})$/.exec(node);
    return m !== null && Number(m[2]) >= 1 && Number(m[2]) <= 65_535;
  };
  if (!nodes.every(valid)) {
    context.addIssue({ code: 'custom', message: 'expected host:port[,host:port…]' });
    return z.NEVER;
  }
  return nodes;
});

const servers = ['api', 'worker', 'scheduler'] as const;
const storageReaders = ['api', 'worker'] as const;

export const configTable = {
  QUIVER_REDIS_URL: setting({
    parser: url(['redis:', 'rediss:'], 'a redis:// or rediss://'),
    default: 'redis://127.0.0.1:6379',
    doc: 'Redis holding queues, job records and schedules.',
    secret: maskUrlPassword,
    processes: servers,
  }),
  QUIVER_REDIS_CLUSTER_NODES: setting({
    parser: hostPorts,
    doc: 'A Redis Cluster to use instead of `QUIVER_REDIS_URL`: `host:port,…` of some of its nodes (the rest are discovered); password and TLS come from `QUIVER_REDIS_URL`.',
    processes: servers,
  }),
  QUIVER_REDIS_SENTINELS: setting({
    parser: hostPorts,
    doc: 'Redis Sentinels to ask for the master instead of `QUIVER_REDIS_URL`: `host:port,…`; password and TLS of the master come from `QUIVER_REDIS_URL`.',
    processes: servers,
  }),
  QUIVER_REDIS_SENTINEL_NAME: setting({
    parser: text(200),
    default: 'mymaster',
    doc: 'The master name the Sentinels of `QUIVER_REDIS_SENTINELS` watch.',
    processes: servers,
  }),
  QUIVER_PREFIX: setting({
    parser: hashTagPrefix,
    default: '{quiver}',
    doc: 'Prefix of every key and queue of the deployment; must hold a `{…}` hash tag (one Redis Cluster slot).',
    processes: servers,
  }),
  QUIVER_LOG_LEVEL: setting({
    parser: oneOf(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']),
    default: 'info',
    doc: 'Lowest log level written: `trace`, `debug`, `info`, `warn`, `error`, `fatal` or `silent`.',
    processes: servers,
  }),
  QUIVER_LOG_FORMAT: setting({
    parser: oneOf(['json', 'pretty']),
    shownDefault: '`json`; `pretty` on a terminal',
    doc: 'Log lines as JSON objects (for collectors) or pino-pretty text (for people).',
    processes: servers,
  }),
  QUIVER_TENANTS_FILE: setting({
    parser: text(),
    doc: 'YAML file of tenants: API keys, storage grants, limits (`schemas/tenants-file.ts`); grants checked on every listing, read and write.',
    processes: servers,
  }),
  QUIVER_STORAGE_GRANTS: setting({
    parser: oneOf(['enforce', 'open']),
    default: 'enforce',
    doc: '`open`: the tenants are one trust domain, so ungranted tenants may reach any `s3://`.',
    processes: servers,
  }),
  QUIVER_S3_ENDPOINT: setting({
    parser: url(['http:', 'https:'], 'an http(s)'),
    doc: 'An S3-compatible store (MinIO, Ceph, R2); region and credentials come from the `AWS_*` variables.',
    processes: storageReaders,
  }),
  QUIVER_S3_FORCE_PATH_STYLE: setting({
    parser: boolean(),
    doc: '`true` for stores that want `endpoint/bucket/key` rather than `bucket.endpoint/key`.',
    processes: storageReaders,
  }),
  QUIVER_WEBHOOK_ALLOW: setting({
    parser: text(),
    doc: 'Hostnames and CIDRs webhooks may reach despite the SSRF guard, comma-separated (e.g. `127.0.0.1/32,hooks.internal`).',
    processes: storageReaders,
  }),
  QUIVER_API_KEYS: setting({
    parser: text(1024 * 1024),
    doc: 'API keys, `tenant:key` or `tenant:key:admin`, comma-separated; a key may be written `sha256-<hex>`.',
    secret: true,
    processes: ['api'],
  }),
  QUIVER_API_KEYS_FILE: setting({
    parser: text(),
    doc: 'A file of API keys in the same syntax, one or more per line, `#` comments.',
    processes: ['api'],
  }),
  QUIVER_API_PORT: setting({
    parser: wholeNumber(0, 65535),
    default: 8080,
    doc: 'TCP port the API listens on; 0 picks a free one. `--port`.',
    processes: ['api'],
  }),
  QUIVER_API_HOST: setting({
    parser: text(255),
    default: '0.0.0.0',
    doc: 'Address the API listens on. `--host`.',
    processes: ['api'],
  }),
  QUIVER_API_BODY_LIMIT_BYTES: setting({
    parser: bytes(1024, 1024 * 1024 * 1024),
    default: 1024 * 1024,
    doc: 'Largest request body; a larger one is refused with 413.',
    processes: ['api'],
  }),
  QUIVER_API_MAX_ACTIVE_JOBS: setting({
    parser: wholeNumber(1, 1_000_000),
    default: 100,
    doc: 'Jobs a tenant may have active at once; one more is 429 `TOO_MANY_ACTIVE_JOBS`.',
    processes: ['api'],
  }),
  QUIVER_API_RATE_LIMIT: setting({
    parser: wholeNumber(1, 1_000_000_000),
    default: 1200,
    doc: 'Requests a tenant may make per window, shared by every API process; one more is 429 `RATE_LIMITED`.',
    processes: ['api'],
  }),
  QUIVER_API_RATE_WINDOW_SECONDS: setting({
    parser: wholeNumber(1, 24 * 3600, 'seconds'),
    default: 60,
    doc: 'Length of the rate-limit window.',
    processes: ['api'],
  }),
  QUIVER_API_AUTH_FAILURE_LIMIT: setting({
    parser: wholeNumber(1, 1_000_000_000),
    default: 30,
    doc: 'Requests without a valid key one client address may make per window before 429 instead of 401.',
    processes: ['api'],
  }),
  QUIVER_API_TRUST_PROXY: setting({
    parser: trustProxyParser,
    default: false,
    doc: 'Proxies believed about the client address (`X-Forwarded-For`): `false`, `true` (any), or their addresses/CIDRs.',
    processes: ['api'],
  }),
  QUIVER_API_URL_EXPIRY_SECONDS: setting({
    parser: wholeNumber(1, 7 * 24 * 3600, 'seconds'),
    default: 3600,
    doc: 'Lifetime of the presigned result URLs (at most 7 days, S3’s limit).',
    processes: ['api'],
  }),
  QUIVER_API_SHUTDOWN_GRACE_SECONDS: setting({
    parser: wholeNumber(1, 3600, 'seconds'),
    default: 10,
    doc: 'Time a graceful stop may take to finish requests in flight.',
    processes: ['api'],
  }),
  QUIVER_SPEC_MAX_STRING_BYTES: setting({
    parser: bytes(64, 1024 * 1024),
    default: specLimitDefaults.maxStringBytes,
    doc: 'Longest string in a submitted spec, in UTF-8 bytes.',
    processes: ['api'],
  }),
  QUIVER_SPEC_MAX_COLUMNS: setting({
    parser: wholeNumber(1, 1_000_000),
    default: specLimitDefaults.maxColumns,
    doc: 'Most columns one list of a submitted spec may name.',
    processes: ['api'],
  }),
  QUIVER_SPEC_MAX_LABELS: setting({
    parser: wholeNumber(0, 10_000),
    default: specLimitDefaults.maxLabels,
    doc: 'Most labels of a submitted spec.',
    processes: ['api'],
  }),
  QUIVER_SPEC_MIN_CHUNK_ROWS: setting({
    parser: wholeNumber(1, 1_000_000_000),
    default: specLimitDefaults.minChunkRows,
    doc: 'Smallest `batch.chunkRows` of a submitted spec.',
    processes: ['api'],
  }),
  QUIVER_SHUTDOWN_GRACE_SECONDS: setting({
    parser: seconds(),
    defaultByProcess: { worker: 90, scheduler: 30 },
    shownDefault: '90 (worker), 30 (scheduler)',
    doc: 'Time a drain may take to finish the chunk (ticks) in hand before the process exits non-zero. `--grace-seconds`.',
    processes: ['worker', 'scheduler'],
  }),
  QUIVER_METRICS_PORT: setting({
    parser: orOff(wholeNumber(0, 65535), 'a TCP port from 0 to 65535'),
    default: 9464,
    doc: 'Port of a worker’s or the scheduler’s Prometheus `/metrics`; device process i of several: this + i; `off` serves none.',
    processes: ['worker', 'scheduler'],
  }),
  QUIVER_JOB_RETENTION_DAYS: setting({
    parser: orOff(positiveNumber('days'), 'a positive number of days'),
    default: 30,
    doc: 'Days the records of ended jobs are kept before the scheduler removes them; `off` keeps them.',
    processes: ['scheduler'],
  }),
  QUIVER_DEVICES: setting({
    parser: text(),
    default: 'cpu',
    doc: 'Devices to score on, one worker process each: `cpu`, `all`, `gpu:0,1`, `cuda:N`, `webgpu:N`. `--devices`.',
    processes: ['worker'],
  }),
  QUIVER_SCORE_CLASSES: setting({
    parser: scoreClassesParser,
    shownDefault: '`cpu,any`; `gpu,any` on a GPU',
    doc: 'Device classes of chunks this worker takes (`cpu`, `gpu`, `any`, comma-separated), whatever device it scores on.',
    processes: ['worker'],
  }),
  QUIVER_SPOT_NOTICE_URL: setting({
    parser: spotNoticeParser,
    default: 'off',
    doc: 'Where to poll for a spot notice: `aws`, a metadata base URL (AWS path appended), any URL, or `off`. `--spot-notice-url`.',
    processes: ['worker'],
  }),
  QUIVER_SPOT_POLL_SECONDS: setting({
    parser: seconds(),
    default: 5,
    doc: 'Time between spot-notice polls.',
    processes: ['worker'],
  }),
  QUIVER_LOCK_SECONDS: setting({
    parser: seconds(),
    default: 30,
    doc: 'A chunk’s lock without renewal; a hard-killed worker’s chunk is re-run once it expires.',
    processes: ['worker'],
  }),
  QUIVER_CHECKPOINT_SECONDS: setting({
    parser: seconds(),
    default: 30,
    doc: 'Scoring time after which a chunk commits what it has: the most work a hard kill loses.',
    processes: ['worker'],
  }),
  QUIVER_MODEL_CACHE: setting({
    parser: text(),
    shownDefault: '`<tmp>/quiver-models`',
    doc: 'Content-addressed model cache directory.',
    processes: ['worker'],
  }),
  QUIVER_TUNING_CACHE: setting({
    parser: text(),
    shownDefault: '`<tmp>/quiver-tuning.json`',
    doc: 'Tuned batch sizes, kept across restarts.',
    processes: ['worker'],
  }),
  QUIVER_MAX_OPEN_MODELS: setting({
    parser: positiveInteger(),
    default: 4,
    doc: 'Model sessions a worker process keeps open; beyond it the least recently used idle one is closed.',
    processes: ['worker'],
  }),
  QUIVER_MAX_CHUNKS_PER_JOB: setting({
    parser: positiveInteger(),
    default: 100_000,
    doc: 'Most chunks one job may plan; more fails the job with `TOO_MANY_CHUNKS`.',
    processes: ['worker'],
  }),
  QUIVER_MAX_MODEL_BYTES: setting({
    parser: bytes(),
    default: 2 * 1024 ** 3,
    doc: 'Largest model fetched; a larger one fails with `MODEL_TOO_LARGE` before any byte is read.',
    processes: ['worker'],
  }),
  QUIVER_MAX_RECORD_BYTES: setting({
    parser: bytes(),
    default: 64 * 1024 ** 2,
    doc: 'Longest CSV/JSONL record; a longer one fails with `CSV_RECORD_TOO_LONG` / `JSONL_RECORD_TOO_LONG`.',
    processes: ['worker'],
  }),
  QUIVER_MAX_PARQUET_FOOTER_BYTES: setting({
    parser: bytes(),
    default: 64 * 1024 ** 2,
    doc: 'Largest Parquet footer read; a larger one fails with `PARQUET_FOOTER_TOO_LARGE`.',
    processes: ['worker'],
  }),
  QUIVER_WEBHOOK_RETRY_SCHEDULE: setting({
    parser: text(),
    default: '5s,5m,30m,2h,5h,10h,14h,20h,20h',
    doc: 'Delays before webhook attempts 2, 3, … (units ms, s, m, h, d); after the last the delivery fails.',
    processes: ['worker'],
  }),
  QUIVER_WEBHOOK_TIMEOUT_SECONDS: setting({
    parser: seconds(),
    default: 15,
    doc: 'Time one webhook attempt may take, connect to end of response.',
    processes: ['worker'],
  }),
  QUIVER_WEBHOOK_CONCURRENCY: setting({
    parser: positiveInteger(),
    default: 8,
    doc: 'Webhook attempts in progress at once per worker process.',
    processes: ['worker'],
  }),
  QUIVER_API_URL: setting({
    parser: url(['http:', 'https:'], 'an http(s)'),
    default: 'http://127.0.0.1:8080',
    doc: 'The API the job commands talk to. `--api-url`.',
    processes: ['cli'],
  }),
  QUIVER_API_KEY: setting({
    parser: text(),
    doc: 'The key the job commands present; it scopes every call to its tenant. `--api-key`.',
    secret: true,
    processes: ['cli'],
  }),
};

export type ConfigName = keyof typeof configTable;
export const configNames = Object.keys(configTable) as ConfigName[];

/** The value a setting yields: its parser's output, or also `undefined` when it has no default. */
type ValueOf<S> =
  S extends Setting<infer T, infer D>
    ? S extends { defaultByProcess: object }
      ? T
      : undefined extends D
        ? T | undefined
        : T
    : never;

export type ConfigValues<N extends ConfigName> = { [K in N]: ValueOf<(typeof configTable)[K]> };

/** Where a value came from: a flag of the command, the environment, the table's default, or nowhere. */
export type ConfigSource = 'flag' | 'env' | 'default' | 'unset';

export interface ConfigEntry<N extends ConfigName = ConfigName> {
  name: N;
  value: ValueOf<(typeof configTable)[N]>;
  source: ConfigSource;
  /** What the user wrote (trimmed), when they wrote something. */
  text?: string;
  /** The variable, or the flag when a flag gave the value: what an error about it names. */
  as: string;
}

export interface ReadConfigOptions<N extends ConfigName> {
  /** The process reading: picks {@link Setting.defaultByProcess}. */
  process?: ConfigProcess;
  /** Command-line flags that override their variable: the flag's name and its text (undefined: not given). */
  flags?: Partial<Record<N, { flag: string; text: string | undefined }>>;
}

/**
 * Each of `names` as `env` and `flags` give it, parsed by its table entry, with its source.
 *
 * @throws InvalidConfig naming the variable (or flag) and the reason; a secret's value is left out.
 */
export function readConfigEntries<const N extends ConfigName>(
  env: NodeJS.ProcessEnv,
  names: readonly N[],
  options: ReadConfigOptions<N> = {},
): { [K in N]: ConfigEntry<K> } {
  const entries: Partial<Record<N, ConfigEntry>> = {};
  for (const name of names) {
    const s: Setting = configTable[name];
    const flag = options.flags?.[name];
    const flagText = flag?.text?.trim();
    const envText = env[name]?.trim();
    const [given, source, as] =
      flagText !== undefined && flagText !== ''
        ? [flagText, 'flag' as const, flag?.flag ?? name]
        : envText !== undefined && envText !== ''
          ? [envText, 'env' as const, name]
          : [undefined, undefined, name];
    if (given === undefined) {
      const byProcess = s.defaultByProcess;
      if (byProcess !== undefined && (options.process === undefined || !(options.process in byProcess)))
        throw new Error(
          `${name} has a default per process; read it for one of ${Object.keys(byProcess).join(', ')}`,
        );
      const value = byProcess !== undefined && options.process ? byProcess[options.process] : s.default;
      entries[name] = { name, value, source: value === undefined ? 'unset' : 'default', as } as ConfigEntry;
      continue;
    }
    const result = s.parser.safeParse(given);
    if (!result.success) {
      const reason = [...new Set(result.error.issues.map((issue) => issue.message))].join('; ');
      throw new InvalidConfig(as, s.secret ? reason : `${reason}, got ${JSON.stringify(given)}`);
    }
    entries[name] = { name, value: result.data, source, text: given, as } as ConfigEntry;
  }
  return entries as { [K in N]: ConfigEntry<K> };
}

/**
 * Each of `names`, parsed, defaults filled: what an options module compiles from.
 *
 * @throws InvalidConfig naming the variable (or flag) and the reason.
 */
export function readConfig<const N extends ConfigName>(
  env: NodeJS.ProcessEnv,
  names: readonly N[],
  options: ReadConfigOptions<N> = {},
): ConfigValues<N> {
  const entries: Record<string, ConfigEntry> = readConfigEntries(env, names, options);
  return Object.fromEntries(
    Object.entries(entries).map(([name, entry]) => [name, entry.value]),
  ) as ConfigValues<N>;
}

/** The names `process` reads, in table order. */
export function configNamesOf(process: ConfigProcess): ConfigName[] {
  return configNames.filter((name) => configTable[name].processes.includes(process));
}

/** How a value is shown to people: secrets masked, lists joined, computed defaults as documented. */
export function showConfigValue(entry: ConfigEntry): string {
  const s: Setting = configTable[entry.name];
  if (entry.text !== undefined) {
    if (s.secret === true) return '****';
    return s.secret ? s.secret(entry.text) : entry.text;
  }
  if (entry.value === undefined) return s.shownDefault?.replace(/`/g, '') ?? '';
  const shown = Array.isArray(entry.value) ? entry.value.join(',') : String(entry.value);
  return typeof s.secret === 'function' ? s.secret(shown) : shown;
}

/**
 * `QUIVER_LOG_LEVEL` and `QUIVER_LOG_FORMAT` for the logger; `format` is absent when unset, the logger
 * then picks by whether stdout is a terminal.
 */
export function logConfig(env: NodeJS.ProcessEnv): {
  level: ValueOf<(typeof configTable)['QUIVER_LOG_LEVEL']>;
  format?: 'json' | 'pretty';
} {
  const { QUIVER_LOG_LEVEL: level, QUIVER_LOG_FORMAT: format } = readConfig(env, [
    'QUIVER_LOG_LEVEL',
    'QUIVER_LOG_FORMAT',
  ]);
  return format === undefined ? { level } : { level, format };
}

/** One line of `quiver config`: a variable, its value as shown (secrets masked) and where it came from. */
export interface ShownSetting {
  name: ConfigName;
  value: string;
  source: ConfigSource;
}

/**
 * The effective configuration of `process`: every variable it reads, in table order.
 *
 * @throws InvalidConfig for the first unusable value, as the process itself would at start.
 */
export function explainConfig(env: NodeJS.ProcessEnv, process: ConfigProcess): ShownSetting[] {
  const entries: Record<string, ConfigEntry> = readConfigEntries(env, configNamesOf(process), { process });
  return Object.values(entries).map((entry) => ({
    name: entry.name,
    value: showConfigValue(entry),
    source: entry.source,
  }));
}
