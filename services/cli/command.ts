import { type ParseArgsConfig, parseArgs } from 'node:util';
import { InvalidConfig } from '../../schemas/errors/invalid-config.js';
import { readConfig } from '../../schemas/config.js';
import { type ApiClient, DEFAULT_API_URL, makeApiClient } from './api-client.js';
import { UsageError } from './errors/usage-error.js';
import type { OutputStream } from './output.js';

/** The flags of a command, as `parseArgs` takes them. */
export type FlagsConfig = NonNullable<ParseArgsConfig['options']>;

/** What a command runs against: the environment, its output streams, and the network. */
export interface CliContext {
  env: NodeJS.ProcessEnv;
  stdout: OutputStream;
  stderr: OutputStream;
  /** Used for the API and for downloading results. */
  fetch: typeof fetch;
}

/** One `quiver <name>` command. */
export interface Command {
  name: string;
  /** One line for `quiver --help`: the arguments, then what it does. */
  synopsis: string;
  summary: string;
  /** The whole of `quiver <name> --help`. */
  help: string;
  /** Runs it; returns the exit code (see `exitCodes`), throws for errors that `main` reports. */
  run(args: string[], context: CliContext): Promise<number>;
}

/** Flags every API command takes. */
export const apiFlags = {
  'api-url': { type: 'string' },
  'api-key': { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h' },
} as const satisfies FlagsConfig;

/** Their help, shared by every API command's `--help`. */
export const apiFlagsHelp = `Common options:
  --api-url URL   The API's base URL (QUIVER_API_URL; default ${DEFAULT_API_URL}).
  --api-key KEY   The API key, which scopes every call to its tenant (QUIVER_API_KEY).
  --json          Print JSON on stdout for machines (errors as {"error":{code,message}} on stderr).
  -h, --help      Show this help.`;

/** Flags of commands that follow a job to its end (`submit --wait`, `status --watch`). */
export const watchFlags = {
  interval: { type: 'string' },
  timeout: { type: 'string' },
  quiet: { type: 'boolean', default: false },
} as const satisfies FlagsConfig;

export const watchFlagsHelp = `  --interval S    Refresh progress at least every S seconds (default 2); status changes show at once.
  --timeout S     Stop watching after S seconds and exit 6, the job still going. Default: no limit.
  --quiet         No progress on stderr, only the final line.
  Progress goes to stderr: redrawn in place on a terminal, one line per change otherwise.`;

/** Whether the arguments ask for help, checked before anything else is. */
export function wantsHelp(args: readonly string[]): boolean {
  return args.includes('--help') || args.includes('-h');
}

/**
 * `parseArgs` with positionals allowed and strict flags; a bad command line becomes a {@link UsageError}
 * naming the flag. `positionals` is the allowed count.
 */
export function parseCommandArgs<const O extends FlagsConfig>(
  args: string[],
  options: O,
  positionals: { min: number; max: number; names: string },
): ReturnType<typeof parseArgs<{ args: string[]; options: O; allowPositionals: true; strict: true }>> {
  let parsed;
  try {
    parsed = parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS'))
      throw new UsageError((error as Error).message);
    throw error;
  }
  const count = parsed.positionals.length;
  if (count < positionals.min) throw new UsageError(`missing ${positionals.names}`);
  if (count > positionals.max)
    throw new UsageError(`unexpected argument ${JSON.stringify(parsed.positionals[positionals.max])}`);
  return parsed;
}

/** A number given on the command line, checked: `flag` names it in the error. */
export function parseNumber(
  flag: string,
  text: string,
  options: { integer?: boolean; min?: number; max?: number } = {},
): number {
  const value = /^-?\d+(\.\d+)?$/.test(text.trim()) ? Number(text) : NaN;
  const kind = options.integer ? 'an integer' : 'a number';
  if (!Number.isFinite(value) || (options.integer && !Number.isInteger(value)))
    throw new UsageError(`${flag}: expected ${kind}, got ${JSON.stringify(text)}`);
  if (options.min !== undefined && value < options.min)
    throw new UsageError(`${flag}: expected ${kind} ≥ ${options.min}, got ${text}`);
  if (options.max !== undefined && value > options.max)
    throw new UsageError(`${flag}: expected ${kind} ≤ ${options.max}, got ${text}`);
  return value;
}

/** The API client the flags and environment describe: flags win over `QUIVER_API_URL` / `QUIVER_API_KEY`. */
export function clientFor(
  values: { 'api-url'?: string | undefined; 'api-key'?: string | undefined },
  context: CliContext,
): ApiClient {
  let config: { QUIVER_API_URL: string; QUIVER_API_KEY: string | undefined };
  try {
    config = readConfig(context.env, ['QUIVER_API_URL', 'QUIVER_API_KEY'], {
      flags: {
        QUIVER_API_URL: { flag: '--api-url', text: values['api-url'] },
        QUIVER_API_KEY: { flag: '--api-key', text: values['api-key'] },
      },
    });
  } catch (error) {
    // A bad URL is the command line's fault: a usage error (exit 2), as for any other bad flag.
    if (error instanceof InvalidConfig) throw new UsageError(error.message);
    throw error;
  }
  if (!config.QUIVER_API_KEY) throw new UsageError('no API key: set QUIVER_API_KEY or pass --api-key');
  return makeApiClient({
    baseUrl: config.QUIVER_API_URL,
    apiKey: config.QUIVER_API_KEY,
    fetch: context.fetch,
  });
}
