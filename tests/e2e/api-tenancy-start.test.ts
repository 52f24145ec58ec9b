import { afterAll, describe, expect, it } from 'vitest';
import { type ApiProcess, startApiProcess } from '../helpers/api-process.js';

const keys = `acme:${'a'.repeat(24)},globex:${'g'.repeat(24)}`;

describe('quiver api and storage grants at start', () => {
  const started: ApiProcess[] = [];
  afterAll(async () => {
    await Promise.all(started.map((api) => api.stop()));
  });

  it('refuses to start with two tenants without storage grants, naming them; starts with QUIVER_STORAGE_GRANTS=open', async () => {
    await expect(startApiProcess({ QUIVER_API_KEYS: keys })).rejects.toThrow(
      /Invalid QUIVER_TENANTS_FILE: tenants acme, globex have no storage grants.*QUIVER_STORAGE_GRANTS=open/,
    );
    const open = await startApiProcess({ QUIVER_API_KEYS: keys, QUIVER_STORAGE_GRANTS: 'open' });
    started.push(open);
    const ready = await fetch(`${open.url}/healthz`);
    expect(ready.status).toBe(200);
  });
});
