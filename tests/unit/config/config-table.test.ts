import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { README, withConfigTable } from '../../../scripts/config-table.js';
import { configNames } from '../../../schemas/config.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));

/** Every .ts/.mjs file under `dir`. */
async function sources(dir: string): Promise<string[]> {
  const entries = await readdir(join(root, dir), { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && /\.(ts|mjs)$/.test(e.name))
    .map((e) => join(e.parentPath, e.name));
}

/**
 * Names that appear in the source but are not settings any process reads: QUIVER_BENCH is a stale mention
 * in a benchmark comment (services/formats/writers/parquet-writer.ts); no code reads it.
 */
const notSettings = new Set(['QUIVER_BENCH']);

describe('the config table and the README', () => {
  it("README's settings table is the one scripts/config-table.ts renders from the schema", async () => {
    const readme = await readFile(README, 'utf8');
    // On a failure, run `npx tsx scripts/config-table.ts` and commit the README.
    expect(await withConfigTable(readme)).toBe(readme);
  });

  it('every QUIVER_ name in services/ and scripts/ is in the table', async () => {
    const files = [...(await sources('services')), ...(await sources('scripts'))];
    const named = new Set<string>();
    for (const file of files) {
      // A trailing `_` or `*` is a family (`QUIVER_LOG_*`), not a name.
      for (const [name] of (await readFile(file, 'utf8')).matchAll(
        /QUIVER_[A-Z0-9_]*[A-Z0-9](?![A-Z0-9_*])/g,
      ))
        named.add(name);
    }
    expect(named.size).toBeGreaterThan(30);
    const missing = [...named].filter(
      (name) => !notSettings.has(name) && !(configNames as string[]).includes(name),
    );
    expect(missing).toEqual([]);
  });
});
