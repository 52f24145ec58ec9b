import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adoptableCommits } from '../../../jobs/chunk-commits.js';
import { outputLayout } from '../../../jobs/output-layout.js';
import { listInput } from '../../../jobs/plan/plan-input.js';
import { makeFileStorage } from '../../../services/storage/file-storage.js';
import { fileUri } from '../../../jobs/ports/storage-uri.js';
import { makeRecordingLog } from '../../helpers/recording-log.js';

const bytes = (text: string) => new TextEncoder().encode(text);

describe('what planning reads as input', () => {
  const storage = makeFileStorage();
  let dir: string;
  let root: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'quiver-list-'));
    root = `${fileUri(dir)}/`;
    for (const name of [
      'day/a.csv',
      'day/sub/b.csv',
      'day/_temporary/0/c.csv', // a writer's scratch folder
      'day/sub/_staging/d.csv', // `_` folders at any depth
      'day/.hidden/e.csv',
      'day/_SUCCESS',
      // A job's output written inside the input prefix (an earlier mistake, or another tenant's job).
      'day/job-1/part-00000-abc.csv',
      'day/job-1/_manifest.json',
      'day/job-2/part-00000-def.csv',
      'day/job-2/_commits/part-00000-def.json',
    ])
      await storage.write(`${root}${name}`, bytes('id\n1\n'));
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('skips `_`/`.`-prefixed folders at any depth and every job-output folder', async () => {
    const objects = await listInput(storage, { uri: `${root}day/`, format: 'csv' });
    expect(objects.map((o) => o.uri.slice(root.length))).toEqual(['day/a.csv', 'day/sub/b.csv']);
  });

  it('adopts commit markers only directly in `_commits/`, ignoring one that is not JSON', async () => {
    const layout = outputLayout(`${root}out/`, 'job-x', 'parquet');
    await storage.write(`${layout.commits}part-00000-zzz.json`, bytes('{ not json'));
    await storage.write(`${layout.commits}nested/part-00001-yyy.json`, bytes('{}'));
    const log = makeRecordingLog();
    const found = await adoptableCommits(
      { storage, log },
      { id: 'job-x', specDigest: 'a'.repeat(64) },
      layout,
      [],
      { modelSha256: 'b'.repeat(64) },
    );
    expect(found).toEqual([]);
    expect(log.records).toEqual([
      expect.objectContaining({
        msg: 'commit marker ignored',
        jobId: 'job-x',
        uri: `${layout.commits}part-00000-zzz.json`,
      }),
    ]);
  });
});
