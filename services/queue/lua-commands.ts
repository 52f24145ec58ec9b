import { readFileSync } from 'node:fs';
import type { RedisClient } from './redis-connection.js';
import type { AttemptState } from '../../jobs/ports/job-store.js';

/**
 * Every Lua script of the house, by the name of its file under `./lua/` (its header says KEYS, ARGV and
 * the reply), with its number of KEYS. `undefined` where a key is optional (`job-create`'s idempotency
 * key, `job-transition`'s active set): the count then goes with each call.
 */
const numberOfKeys = {
  'job-create': undefined,
  'job-release-key': 1,
  'job-transition': undefined,
  'job-set-plan': 1,
  'job-begin-attempt': 5,
  'job-attempt': 5,
  'job-commit-chunk': 5,
  'job-add-usage': 1,
  'job-recount': 4,
  'job-delete': 15,
  'job-retry': 11,
  'job-deadline': 8,
  'schedule-record': 1,
  'schedule-runs-add': 5,
  'schedule-runs-admit': 3,
  'schedule-run-mark': 2,
  'delivery-create': 3,
  'delivery-record-attempt': 2,
  'delivery-reopen': 2,
  'tenant-chunk-take': 1,
  'tenant-chunk-renew': 1,
} as const satisfies Record<string, number | undefined>;

export type LuaScriptName = keyof typeof numberOfKeys;

/** What each script replies, as ioredis hands it over (Lua tables → arrays, `false` → null). */
export interface LuaReplies {
  'job-create': ['created'] | ['exists'] | ['full'] | ['idem', string] | ['in-use', string, string];
  'job-release-key': 0;
  'job-transition': ['missing'] | ['same'] | ['invalid', string] | ['moved', string];
  'job-set-plan': 0 | 1;
  'job-begin-attempt': ['started', string] | ['committed'] | ['missing'] | ['stopped', string];
  'job-attempt': AttemptState;
  'job-commit-chunk': ['missing'] | ['accepted' | 'again' | 'duplicate' | 'stale', number, number, 0 | 1];
  'job-add-usage': 0 | 1;
  'job-recount': 0 | 1;
  'job-delete': 0;
  'job-retry':
    ['missing'] | ['invalid', string] | ['full'] | ['in-use', string, string] | ['retried', string, number];
  'job-deadline': ['missing'] | ['stale', string] | ['moved', string];
  'schedule-record': 0 | 1;
  'schedule-runs-add': string[];
  'schedule-runs-admit': string[];
  'schedule-run-mark': 0 | 1;
  'delivery-create': [string, number];
  'delivery-record-attempt': 0 | 1;
  'delivery-reopen': number | null;
  'tenant-chunk-take': 0 | 1;
  'tenant-chunk-renew': 0 | 1;
}

/** Runs the scripts defined on one connection. */
export interface LuaCommands {
  run<S extends LuaScriptName>(
    script: S,
    keys: readonly string[],
    args: readonly (string | number)[],
  ): Promise<LuaReplies[S]>;
}

/**
 * The ioredis command a script is defined as: prefixed, so it can never shadow a Redis command or one
 * BullMQ defines on a shared connection.
 */
const commandName = (script: LuaScriptName): string => `quiver:${script}`;

const readLua = (path: string): string => readFileSync(new URL(`./lua/${path}.lua`, import.meta.url), 'utf8');

/**
 * A script's source with each `--@include <name>` line replaced by `lua/includes/<name>.lua` (logic two
 * scripts share, such as the output-folder hold check, is written once; Redis runs each script whole).
 */
function withIncludes(source: string): string {
  return source.replace(/^--@include ([a-z-]+)$/gm, (_line, name: string) => readLua(`includes/${name}`));
}

/** Read once per process; `import.meta.url` finds the files next to this module under tsx, with no build. */
const sources = new Map(
  (Object.keys(numberOfKeys) as LuaScriptName[]).map((script) => [script, withIncludes(readLua(script))]),
);

const definedOn = new WeakMap<RedisClient, LuaCommands>();

type ScriptMethod = (...args: (string | number)[]) => Promise<unknown>;

/**
 * Defines every script on `redis` with ioredis `defineCommand`, once per connection (later calls return the
 * same commands). ioredis then sends each by digest, and on NOSCRIPT (Redis restarted or failed over, or
 * `SCRIPT FLUSH`) sends the source once and goes back to the digest; on a Cluster it does so per node.
 * KEYS get the connection's `keyPrefix`, like the keys of any other command; ARGV never do.
 */
export function defineQuiverCommands(redis: RedisClient): LuaCommands {
  const known = definedOn.get(redis);
  if (known !== undefined) return known;
  for (const [script, lua] of sources) {
    const keys = numberOfKeys[script];
    redis.defineCommand(commandName(script), keys === undefined ? { lua } : { lua, numberOfKeys: keys });
  }
  const commands: LuaCommands = {
    async run(script, keys, args) {
      const fixed: number | undefined = numberOfKeys[script];
      if (fixed !== undefined && keys.length !== fixed) {
        throw new RangeError(`${script} takes ${fixed} keys, got ${keys.length}`);
      }
      const method = (redis as unknown as Record<string, ScriptMethod>)[commandName(script)];
      if (method === undefined) throw new Error(`Lua command ${script} is not defined on this connection`);
      const counted = fixed === undefined ? [keys.length, ...keys] : keys;
      return (await method.call(redis, ...counted, ...args)) as LuaReplies[typeof script];
    },
  };
  definedOn.set(redis, commands);
  return commands;
}
