import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PLACEHOLDER_API_KEY, loadApiConfig } from '../../../services/api/api-options.js';
import { InvalidConfig } from '../../../schemas/errors/invalid-config.js';
import { thrown } from '../../helpers/thrown.js';

describe('the placeholder API key', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'quiver-placeholder-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('stops the API at start, naming QUIVER_API_KEYS, in clear or pre-hashed', () => {
    const digest = createHash('sha256').update(PLACEHOLDER_API_KEY).digest('hex');
    for (const entry of [`ops:${PLACEHOLDER_API_KEY}:admin`, `ops:sha256-${digest}`]) {
      const error = thrown(InvalidConfig, () =>
        loadApiConfig([], { QUIVER_API_KEYS: `ops:ops-0123456789abcdef01,${entry}` }),
      );
      expect(error.variable).toBe('QUIVER_API_KEYS');
      expect(error.message).toContain('placeholder');
    }
  });

  it('names QUIVER_API_KEYS_FILE when the keys file holds it', async () => {
    const file = join(dir, 'api-keys');
    await writeFile(file, `# shipped\nops:${PLACEHOLDER_API_KEY}:admin\n`);
    const error = thrown(InvalidConfig, () =>
      loadApiConfig([], { QUIVER_API_KEYS: 'ops:ops-0123456789abcdef01', QUIVER_API_KEYS_FILE: file }),
    );
    expect(error.variable).toBe('QUIVER_API_KEYS_FILE');
  });

  it('lets real keys start', () => {
    expect(loadApiConfig([], { QUIVER_API_KEYS: 'ops:ops-0123456789abcdef01:admin' }).keys.size).toBe(1);
  });
});
