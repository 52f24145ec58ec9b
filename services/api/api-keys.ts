import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { TenantsFile } from '../../schemas/tenants-file.js';
import { readConfig } from '../../schemas/config.js';
import { InvalidConfig } from '../../schemas/errors/invalid-config.js';

/** Who a request acts for: its tenant, and whether its key has the admin scope. */
export interface Principal {
  tenant: string;
  /** Admin keys may read, cancel and list any tenant's jobs (operations, future schedules). */
  admin: boolean;
}

/** Configured API keys, held only as SHA-256 digests. */
export interface ApiKeys {
  /** The principal a presented key acts for; undefined for a key that is not configured. */
  authenticate(key: string): Principal | undefined;
  /** How many keys are configured. */
  readonly size: number;
  /** Every tenant that has a key. */
  readonly tenants: ReadonlySet<string>;
}

const TENANT = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
/** Visible ASCII without the two separators of the list syntax. */
const KEY = /^[!-+\--9;-~]+$/;
const PREHASHED = /^sha256-([0-9a-f]{64})$/;
/** Short keys are guessable; 16 characters is the floor, 32 random ones are what to use. */
export const MIN_KEY_CHARS = 16;

const sha256 = (key: string): string => createHash('sha256').update(key, 'utf8').digest('hex');

/**
 * Parses a key list: entries separated by commas or newlines, `#` starts a comment. Each entry is
 * `tenant:key`, or `tenant:key:admin` for the admin scope. A key written `sha256-<64 hex>` is taken as the
 * digest of the real key, so a keys file need not hold keys in clear. Keys are hashed at once and never
 * kept; one key may belong to one tenant only; a tenant may have several keys (rotation).
 *
 * @param source The variable the text came from, named in errors (`QUIVER_API_KEYS`, `QUIVER_API_KEYS_FILE`).
 * @throws InvalidConfig naming `source` and the entry's position, never the key itself.
 */
export function parseApiKeys(text: string, source: string): ApiKeys {
  return keysOf(collectKeys(new Map(), text, source));
}

function keysOf(byDigest: ReadonlyMap<string, Principal>): ApiKeys {
  return {
    authenticate: (key) => byDigest.get(sha256(key)),
    size: byDigest.size,
    tenants: new Set([...byDigest.values()].map((p) => p.tenant)),
  };
}

/** Adds the entries of `text` to `byDigest`; see {@link parseApiKeys}. */
function collectKeys(byDigest: Map<string, Principal>, text: string, source: string): Map<string, Principal> {
  const entries = text
    .split('\n')
    .map((line) => line.replace(/#.*$/, ''))
    .flatMap((line) => line.split(','))
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  entries.forEach((entry, i) => {
    const where = `entry ${i + 1}`;
    const [tenant = '', key = '', scope, ...rest] = entry.split(':');
    if (key === '' || rest.length > 0 || (scope !== undefined && scope !== 'admin')) {
      throw new InvalidConfig(source, `${where}: expected tenant:key or tenant:key:admin`);
    }
    if (!TENANT.test(tenant)) {
      throw new InvalidConfig(
        source,
        `${where}: tenant must be 1–63 letters, digits, '.', '_' or '-' (starting with a letter or digit)`,
      );
    }
    const prehashed = PREHASHED.exec(key)?.[1];
    if (prehashed === undefined && (!KEY.test(key) || key.length < MIN_KEY_CHARS)) {
      throw new InvalidConfig(
        source,
        `${where} (tenant ${tenant}): the key must be at least ${MIN_KEY_CHARS} visible ASCII characters ` +
          `without ':' or ','`,
      );
    }
    const digest = prehashed ?? sha256(key);
    const holder = byDigest.get(digest);
    if (holder !== undefined && holder.tenant !== tenant) {
      throw new InvalidConfig(source, `${where}: the same key is configured for two tenants`);
    }
    byDigest.set(digest, { tenant, admin: scope === 'admin' || holder?.admin === true });
  });
  return byDigest;
}

/**
 * The keys of `QUIVER_API_KEYS`, of the file `QUIVER_API_KEYS_FILE` and of the tenants file's `keys`
 * (all may be set; their keys are combined). At least one key is required: an API without keys would
 * answer 401 to everything.
 */
export function loadApiKeys(
  env: NodeJS.ProcessEnv,
  readFile: (path: string) => string = (path) => readFileSync(path, 'utf8'),
  tenants: TenantsFile['tenants'] = {},
): ApiKeys {
  const byDigest = new Map<string, Principal>();
  const fromTenantsFile = Object.entries(tenants).flatMap(([tenant, t]) =>
    t.keys.map((key) => `${tenant}:${key}${t.admin ? ':admin' : ''}`),
  );
  if (fromTenantsFile.length > 0) collectKeys(byDigest, fromTenantsFile.join('\n'), 'QUIVER_TENANTS_FILE');
  const { QUIVER_API_KEYS: inline, QUIVER_API_KEYS_FILE: file } = readConfig(env, [
    'QUIVER_API_KEYS',
    'QUIVER_API_KEYS_FILE',
  ]);
  if (inline !== undefined) collectKeys(byDigest, inline, 'QUIVER_API_KEYS');
  if (file !== undefined) {
    let text: string;
    try {
      text = readFile(file);
    } catch (error) {
      throw new InvalidConfig(
        'QUIVER_API_KEYS_FILE',
        `cannot read ${file}: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
    collectKeys(byDigest, text, 'QUIVER_API_KEYS_FILE');
  }
  if (byDigest.size === 0) {
    throw new InvalidConfig(
      'QUIVER_API_KEYS',
      'no API keys configured: set QUIVER_API_KEYS (tenant:key,…), QUIVER_API_KEYS_FILE or keys in QUIVER_TENANTS_FILE',
    );
  }
  return keysOf(byDigest);
}

/** The token of an `Authorization: Bearer <token>` header; undefined for any other form. */
export function bearerToken(header: string | undefined): string | undefined {
  const match = /^Bearer +(\S+) *$/i.exec(header ?? '');
  return match?.[1];
}
