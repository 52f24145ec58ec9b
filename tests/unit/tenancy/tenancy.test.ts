import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadApiConfig } from '../../../services/api/api-options.js';
import { InvalidConfig } from '../../../schemas/errors/invalid-config.js';
import { parseJobSpec } from '../../../schemas/job-spec.js';
import { specAuthorizer } from '../../../services/tenancy/authorize-spec.js';
import { PriorityForbidden } from '../../../services/tenancy/errors/priority-forbidden.js';
import { assertGrantsCover, loadTenancy } from '../../../services/tenancy/tenancy.js';

const key = (c: string) => c.repeat(24);
const file = (text: string) => () => text;

const twoTenants = `
tenants:
  acme:
    keys: ["${key('a')}"]
    storage:
      read: ["s3://acme-events/"]
      write: ["s3://acme-scores/"]
    limits: { maxActiveJobs: 3, maxRunningChunks: 4, maxPriority: 3 }
  globex:
    keys: ["${key('g')}"]
    admin: true
`;

describe('tenants file and grants mode', () => {
  it('reads grants, limits and keys; an ungranted tenant gets open s3:// grants', () => {
    const tenancy = loadTenancy({ QUIVER_TENANTS_FILE: '/etc/quiver/tenants.yaml' }, file(twoTenants));
    expect(tenancy.grantsFor('acme')).toEqual({
      read: ['s3://acme-events/'],
      write: ['s3://acme-scores/'],
      open: false,
    });
    expect(tenancy.grantsFor('globex')).toEqual({ read: [], write: [], open: true });
    expect(tenancy.maxActiveJobsFor('acme')).toBe(3);
    expect(tenancy.maxActiveJobsFor('globex')).toBeUndefined();
    expect(tenancy.maxRunningChunksFor('acme')).toBe(4);
    expect(tenancy.maxRunningChunksFor('globex')).toBeUndefined();
    expect(tenancy.sharesChunks).toBe(true);
    expect(tenancy.maxPriorityFor('acme')).toBe(3);
    expect(tenancy.maxPriorityFor('globex')).toBeUndefined();
  });

  it('counts no running chunks when no tenant has a share, and refuses unusable limits by path', () => {
    const none = loadTenancy({ QUIVER_TENANTS_FILE: '/t.yaml' }, file('tenants:\n  acme: {}\n'));
    expect(none.sharesChunks).toBe(false);
    for (const [limits, path] of [
      ['{ maxRunningChunks: 0 }', 'tenants.acme.limits.maxRunningChunks'],
      ['{ maxPriority: 11 }', 'tenants.acme.limits.maxPriority'],
      ['{ maxPriority: 1.5 }', 'tenants.acme.limits.maxPriority'],
    ] as const) {
      expect(() =>
        loadTenancy({ QUIVER_TENANTS_FILE: '/t.yaml' }, file(`tenants:\n  acme: { limits: ${limits} }\n`)),
      ).toThrow(path);
    }
  });

  it('refuses a spec more urgent than the tenant may ask for, at `priority`; less urgent or equal passes', async () => {
    const tenancy = loadTenancy({ QUIVER_TENANTS_FILE: '/etc/quiver/tenants.yaml' }, file(twoTenants));
    const authorize = specAuthorizer(tenancy);
    const spec = (priority: number) =>
      parseJobSpec({
        input: { uri: 's3://acme-events/day/', format: 'csv' },
        model: { uri: 's3://acme-events/m.onnx' },
        output: { uri: 's3://acme-scores/out/' },
        priority,
      });
    const refused = await authorize(spec(2), 'acme').catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(PriorityForbidden);
    expect(refused).toMatchObject({ code: 'PRIORITY_FORBIDDEN', path: 'priority', permanent: true });
    await expect(authorize(spec(3), 'acme')).resolves.toBeUndefined();
    await expect(authorize(spec(10), 'acme')).resolves.toBeUndefined();
    // The default (5) is less urgent than 3; globex has no limit at all.
    await expect(authorize(spec(1), 'globex')).resolves.toBeUndefined();
  });

  it('refuses two tenants without grants at start, naming them, unless QUIVER_STORAGE_GRANTS=open', () => {
    const env = { QUIVER_API_KEYS: `acme:${key('a')},globex:${key('g')},initech:${key('i')}` };
    expect(() => loadApiConfig([], env)).toThrow(InvalidConfig);
    expect(() => loadApiConfig([], env)).toThrow(/tenants acme, globex, initech have no storage grants/);
    expect(loadApiConfig([], { ...env, QUIVER_STORAGE_GRANTS: 'open' }).tenancy.mode).toBe('open');
    // One tenant without grants is one trust domain already.
    expect(() => loadApiConfig([], { QUIVER_API_KEYS: `acme:${key('a')}` })).not.toThrow();
  });

  it('takes API keys (plain or sha256-) and the admin scope from the tenants file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'quiver-tenants-'));
    try {
      const path = join(dir, 'tenants.yaml');
      await writeFile(path, twoTenants);
      const config = loadApiConfig([], { QUIVER_TENANTS_FILE: path });
      expect(config.keys.authenticate(key('a'))).toEqual({ tenant: 'acme', admin: false });
      expect(config.keys.authenticate(key('g'))).toEqual({ tenant: 'globex', admin: true });
      expect(config.keys.authenticate(key('x'))).toBeUndefined();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it.each([
    ['not YAML', 'tenants: [', /is not YAML/],
    ['an unknown field', 'tenants:\n  acme:\n    keyz: []\n', /tenants\.acme/],
    [
      'a grant with a .. segment',
      'tenants:\n  acme:\n    storage: { read: ["s3://b/../c/"] }\n',
      /tenants\.acme\.storage/,
    ],
    [
      'a grant that is not a storage URI',
      'tenants:\n  acme:\n    storage: { read: ["http://x/"] }\n',
      /s3:\/\/ or file:\/\//,
    ],
  ])('names the problem in %s', (_why, text, message) => {
    expect(() => loadTenancy({ QUIVER_TENANTS_FILE: '/t.yaml' }, file(text))).toThrow(message);
    expect(() => loadTenancy({ QUIVER_TENANTS_FILE: '/t.yaml' }, file(text))).toThrow(
      /^Invalid QUIVER_TENANTS_FILE/,
    );
  });

  it('accepts the tenants file infra/k8s ships, with grants for every tenant', async () => {
    const { parseAllDocuments } = await import('yaml');
    const { readFile } = await import('node:fs/promises');
    const docs = parseAllDocuments(
      await readFile(join(import.meta.dirname, '../../../infra/k8s/config.yaml'), 'utf8'),
    );
    const configMap = docs
      .map((d) => d.toJS() as { metadata?: { name?: string }; data?: Record<string, string> })
      .find((d) => d.metadata?.name === 'quiver-tenants');
    const text = configMap?.data?.['tenants.yaml'] ?? '';
    const tenancy = loadTenancy({ QUIVER_TENANTS_FILE: '/etc/quiver-tenants/tenants.yaml' }, file(text));
    expect(Object.keys(tenancy.file).sort()).toEqual(['acme', 'ops']);
    expect(tenancy.grantsFor('acme').open).toBe(false);
    expect(() => assertGrantsCover(tenancy, ['ops', 'acme'])).not.toThrow();
  });

  it('refuses an unknown grants mode', () => {
    expect(() => loadTenancy({ QUIVER_STORAGE_GRANTS: 'lax' })).toThrow(/Invalid QUIVER_STORAGE_GRANTS/);
  });
});
