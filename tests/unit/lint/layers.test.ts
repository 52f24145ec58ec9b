import { ESLint, type Linter } from 'eslint';
import { join } from 'node:path';
import tseslint from 'typescript-eslint';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..', '..');
const project = new ESLint({ cwd: root });

/**
 * The layer rule's messages for `source` as the file `path` (relative to the repo root): the project's own
 * `no-restricted-imports` setting for that path, run alone on the TypeScript parser without type
 * information (fast, and the path need not exist).
 */
async function layerProblems(path: string, source: string): Promise<string[]> {
  const config = (await project.calculateConfigForFile(join(root, path))) as Linter.Config;
  const rule = config.rules?.['no-restricted-imports'];
  const eslint = new ESLint({
    cwd: root,
    overrideConfigFile: true,
    overrideConfig: [
      {
        files: ['**/*.ts'],
        languageOptions: { parser: tseslint.parser },
        rules: rule === undefined ? {} : { 'no-restricted-imports': rule },
      },
    ],
  });
  const [result] = await eslint.lintText(source, { filePath: join(root, path) });
  return (result?.messages ?? []).filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

describe('eslint encodes the layers', () => {
  it('refuses schemas/ importing jobs/ or services/', async () => {
    expect(
      await layerProblems('schemas/job-spec.ts', "export { jobErrorOf } from '../jobs/job-error.js';\n"),
    ).toEqual([expect.stringContaining('schemas/ is the leaf')]);
    expect(
      await layerProblems(
        'schemas/job-spec.ts',
        "export { makeStorage } from '../services/storage/make-storage.js';\n",
      ),
    ).toHaveLength(1);
    expect(
      await layerProblems('schemas/job-spec.ts', "export { jobSpecSchema } from './job-spec.js';\n"),
    ).toEqual([]);
  }, 60_000);

  it('refuses jobs/ importing services/ or a library, and lets it import schemas/, jobs/ and node built-ins', async () => {
    expect(
      await layerProblems(
        'jobs/plan/plan-input.ts',
        "export { makeRedisJobStore } from '../../services/queue/job-store.js';\n",
      ),
    ).toEqual([expect.stringContaining('through its ports')]);
    expect(await layerProblems('jobs/job-error.ts', "export { Queue } from 'bullmq';\n")).toEqual([
      expect.stringContaining('a library belongs behind a port'),
    ]);
    expect(
      await layerProblems(
        'jobs/plan/plan-input.ts',
        "export { createHash } from 'node:crypto';\nexport { jobSpecSchema } from '../../schemas/job-spec.js';\nexport type { JobStore } from '../ports/job-store.js';\n",
      ),
    ).toEqual([]);
  }, 60_000);

  it('refuses an edge under services/ importing a process folder', async () => {
    expect(
      await layerProblems(
        'services/queue/queues.ts',
        "export { runWorkerProcess } from '../worker/worker-process.js';\n",
      ),
    ).toEqual([expect.stringContaining('never imports a process folder')]);
    expect(
      await layerProblems(
        'services/worker/pipeline-worker.ts',
        "export { makeQueues } from '../queue/queues.js';\n",
      ),
    ).toEqual([]);
  }, 60_000);
});
