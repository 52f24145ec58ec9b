import { writeFile } from 'node:fs/promises';
import { stringify } from 'yaml';

/** One tenant of a test's tenants file: its keys, admin scope and storage grants (URI prefixes). */
export interface TestTenant {
  keys: string[];
  admin?: boolean;
  read?: string[];
  write?: string[];
}

/**
 * Writes a `QUIVER_TENANTS_FILE` (schemas/tenants-file.ts) at `path` for `tenants`: what e2e tests give
 * their API and worker processes, since `file://` is reachable only under an explicit grant.
 */
export async function writeTenantsFile(path: string, tenants: Record<string, TestTenant>): Promise<void> {
  const file = {
    tenants: Object.fromEntries(
      Object.entries(tenants).map(([name, t]) => [
        name,
        {
          keys: t.keys,
          ...(t.admin ? { admin: true } : {}),
          storage: { read: t.read ?? [], write: t.write ?? [] },
        },
      ]),
    ),
  };
  await writeFile(path, stringify(file));
}
