import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StorageForbidden } from '../../../services/tenancy/errors/storage-forbidden.js';
import { type StorageGrants, makeGrantChecker } from '../../../services/tenancy/storage-grants.js';
import { fileUri } from '../../../jobs/ports/storage-uri.js';

const acme: StorageGrants = {
  read: ['s3://acme-events/', 's3://models/acme/'],
  write: ['s3://acme'],
  open: false,
};

async function refusal(run: Promise<unknown>): Promise<StorageForbidden> {
  const error = await run.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(StorageForbidden);
  return error as StorageForbidden;
}

describe('storage grants', () => {
  const grants = makeGrantChecker(acme);

  it('allows what lies under a grant; write implies read', async () => {
    await grants.check('s3://acme-events/dt=2026-12-01/a.parquet', 'read');
    await grants.check('s3://acme-events/', 'read');
    await grants.check('s3://acme-events', 'read');
    await grants.check('s3://models/acme/fraud.onnx', 'read');
    await grants.check('s3://acme/scores/', 'write');
    await grants.check('s3://acme/scores/part.parquet', 'read');
  });

  it.each([
    ['another tenant’s bucket', 's3://globex-events/a.parquet', 'read'],
    ['a sibling bucket (s3://acme never covers s3://acme-b)', 's3://acme-b/x', 'write'],
    ['a sibling prefix', 's3://models/acme-evil/m.onnx', 'read'],
    ['a read grant used to write', 's3://acme-events/out/', 'write'],
    ['a .. traversal', 's3://acme-events/../globex-events/a.parquet', 'read'],
    ['a percent-encoded traversal', 's3://acme-events/%2e%2e/globex-events/a.parquet', 'read'],
    ['an encoded separator', 's3://models/acme%2F..%2Fglobex/m.onnx', 'read'],
    ['an empty segment', 's3://acme-events//a.parquet', 'read'],
    ['a . segment', 's3://acme/./x', 'write'],
    ['the workers’ own disk', 'file:///etc/passwd', 'read'],
  ] as const)('refuses %s', async (_why, uri, access) => {
    const error = await refusal(grants.check(uri, access, 'input.uri'));
    expect(error).toMatchObject({ code: 'STORAGE_FORBIDDEN', uri, access, path: 'input.uri' });
    expect(error.message).toContain('input.uri');
    // The grants are named by prefix, so the tenant sees what it may use.
    expect(error.message).toContain(access === 'write' ? 's3://acme' : 's3://acme-events/');
  });

  it('in open mode allows every s3:// URI but never file:// without an explicit grant', async () => {
    const open = makeGrantChecker({ read: [], write: [], open: true });
    await open.check('s3://anything/at/all', 'write');
    await refusal(open.check('file:///var/run/secrets/token', 'read'));
    await refusal(open.check('s3://b/../x', 'read'));
  });

  describe('file:// grants', () => {
    let dir: string;
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'quiver-grants-'));
      await mkdir(join(dir, 'granted', 'in'), { recursive: true });
      await mkdir(join(dir, 'secret'));
      await writeFile(join(dir, 'secret', 'key.txt'), 'x');
      await writeFile(join(dir, 'granted', 'in', 'a.csv'), 'id\n1\n');
      await symlink(join(dir, 'secret'), join(dir, 'granted', 'in', 'escape'));
    });
    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('are resolved with realpath: a symlink leading out of the grant is refused', async () => {
      const local = makeGrantChecker({ read: [], write: [fileUri(join(dir, 'granted/'))], open: false });
      await local.check(fileUri(join(dir, 'granted', 'in', 'a.csv')), 'read');
      // Not there yet (an output): checked through its nearest existing folder.
      await local.check(fileUri(join(dir, 'granted', 'out', 'job', 'part.parquet')), 'write');
      await refusal(local.check(fileUri(join(dir, 'granted', 'in', 'escape', 'key.txt')), 'read'));
      await refusal(local.check(fileUri(join(dir, 'secret', 'key.txt')), 'read'));
      await refusal(local.check(`${fileUri(join(dir, 'granted'))}/in/../../secret/key.txt`, 'read'));
    });
  });
});
