import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { type TenantsFile, tenantsFileSchema } from '../../schemas/tenants-file.js';
import { readConfig } from '../../schemas/config.js';
import { InvalidConfig } from '../../schemas/errors/invalid-config.js';
import type { Storage } from '../../jobs/ports/storage.js';
import {
  type GrantChecker,
  type StorageGrants,
  grantedStorage,
  makeGrantChecker,
  uriShapeProblem,
} from './storage-grants.js';

/** The tenants a deployment serves and what each may touch. */
export interface Tenancy {
  /** Tenants of `QUIVER_TENANTS_FILE` (empty without one). */
  readonly file: TenantsFile['tenants'];
  /** `QUIVER_STORAGE_GRANTS`: `enforce` (default) or `open` (one trust domain: ungranted tenants reach any s3://). */
  readonly mode: 'enforce' | 'open';
  /**
   * The tenant's grants. A tenant without `storage` in the file (or not in it) gets `open` grants for
   * `s3://` — the API refuses to start with two such tenants unless the mode is `open` — and never `file://`.
   */
  grantsFor(tenant: string): StorageGrants;
  /** The tenant's own active-job limit, when the file sets one. */
  maxActiveJobsFor(tenant: string): number | undefined;
  /** The tenant's running-chunk share (`limits.maxRunningChunks`), when the file sets one. */
  maxRunningChunksFor(tenant: string): number | undefined;
  /** Whether any tenant has a running-chunk share: without one, workers never count running chunks. */
  readonly sharesChunks: boolean;
  /** The most urgent spec priority the tenant may use (`limits.maxPriority`), when the file sets one. */
  maxPriorityFor(tenant: string): number | undefined;
}

/**
 * Reads `QUIVER_TENANTS_FILE` (YAML, see `schemas/tenants-file.ts`) and `QUIVER_STORAGE_GRANTS`.
 *
 * @throws InvalidConfig naming the variable, the tenant and the entry that is unusable.
 */
export function loadTenancy(
  env: NodeJS.ProcessEnv,
  readFile: (path: string) => string = (path) => readFileSync(path, 'utf8'),
): Tenancy {
  const { QUIVER_STORAGE_GRANTS: mode, QUIVER_TENANTS_FILE: path } = readConfig(env, [
    'QUIVER_STORAGE_GRANTS',
    'QUIVER_TENANTS_FILE',
  ]);
  let file: TenantsFile['tenants'] = {};
  if (path !== undefined) {
    let text: string;
    try {
      text = readFile(path);
    } catch (error) {
      throw new InvalidConfig('QUIVER_TENANTS_FILE', `cannot read ${path}: ${(error as Error).message}`);
    }
    let parsed: unknown;
    try {
      parsed = parseYaml(text);
    } catch (error) {
      throw new InvalidConfig('QUIVER_TENANTS_FILE', `${path} is not YAML: ${(error as Error).message}`);
    }
    const result = tenantsFileSchema.safeParse(parsed);
    if (!result.success) {
      const problems = result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
      throw new InvalidConfig('QUIVER_TENANTS_FILE', `${path}: ${problems.join('; ')}`);
    }
    file = result.data.tenants;
  }
  return makeTenancy(file, mode);
}

/** A {@link Tenancy} over parsed tenants; grant URIs are checked here, so a bad one stops the process. */
export function makeTenancy(file: TenantsFile['tenants'], mode: 'enforce' | 'open'): Tenancy {
  for (const [tenant, entry] of Object.entries(file)) {
    for (const uri of [...(entry.storage?.read ?? []), ...(entry.storage?.write ?? [])]) {
      // Only the shape is checked here; file:// grants are resolved with realpath when first used.
      const unsafe = /^(s3|file):\/\//i.test(uri) ? uriShapeProblem(uri) : 'grants are s3:// or file:// URIs';
      if (unsafe)
        throw new InvalidConfig('QUIVER_TENANTS_FILE', `tenants.${tenant}.storage: ${uri}: ${unsafe}`);
    }
  }
  return {
    file,
    mode,
    grantsFor(tenant) {
      const storage = file[tenant]?.storage;
      if (storage === undefined) return { read: [], write: [], open: true };
      return { read: storage.read, write: storage.write, open: false };
    },
    maxActiveJobsFor: (tenant) => file[tenant]?.limits?.maxActiveJobs,
    maxRunningChunksFor: (tenant) => file[tenant]?.limits?.maxRunningChunks,
    sharesChunks: Object.values(file).some((entry) => entry.limits?.maxRunningChunks !== undefined),
    maxPriorityFor: (tenant) => file[tenant]?.limits?.maxPriority,
  };
}

/**
 * Refuses a deployment where two or more tenants have no storage grants (each could read the other's
 * data through the workers' one credential chain) unless `QUIVER_STORAGE_GRANTS=open` says they are one
 * trust domain. `tenants` are every tenant the API serves (its keys').
 */
export function assertGrantsCover(tenancy: Tenancy, tenants: Iterable<string>): void {
  if (tenancy.mode === 'open') return;
  const ungranted = [...new Set(tenants)].filter((t) => tenancy.file[t]?.storage === undefined).sort();
  if (ungranted.length >= 2) {
    throw new InvalidConfig(
      'QUIVER_TENANTS_FILE',
      `tenants ${ungranted.join(', ')} have no storage grants: give each tenant storage.read/storage.write ` +
        'prefixes, or set QUIVER_STORAGE_GRANTS=open if they are one trust domain',
    );
  }
}

/**
 * The tenant's grant checker, made once per tenant and kept (file:// grants are resolved with realpath on
 * first use).
 */
const checkers = new WeakMap<Tenancy, Map<string, GrantChecker>>();
export function grantCheckerFor(tenancy: Tenancy, tenant: string): GrantChecker {
  let byTenant = checkers.get(tenancy);
  if (!byTenant) checkers.set(tenancy, (byTenant = new Map<string, GrantChecker>()));
  let checker = byTenant.get(tenant);
  if (!checker) byTenant.set(tenant, (checker = makeGrantChecker(tenancy.grantsFor(tenant))));
  return checker;
}

/** Each tenant's `grantedStorage` over `inner` (what workers pass as `storageFor`). */
export function tenantStorage(inner: Storage, tenancy: Tenancy): (tenant: string) => Storage {
  return (tenant) => grantedStorage(inner, grantCheckerFor(tenancy, tenant));
}
