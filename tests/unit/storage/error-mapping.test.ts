import { describe, expect, it } from 'vitest';

import { StorageAccessDenied } from '../../../jobs/ports/errors/storage-access-denied.js';
import { StorageNotFound } from '../../../jobs/ports/errors/storage-not-found.js';
import { mapFileError } from '../../../services/storage/file-storage.js';
import { mapS3Error } from '../../../services/storage/s3-storage.js';

function errnoError(code: string): Error {
  return Object.assign(new Error(code), { code });
}

function sdkError(name: string, status: number): Error {
  return Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });
}

describe('mapFileError', () => {
  const uri = 'file:///data/x.csv';

  it('maps ENOENT to StorageNotFound and EACCES/EPERM to StorageAccessDenied, keeping the cause', () => {
    const missing = errnoError('ENOENT');
    expect(mapFileError(missing, uri)).toBeInstanceOf(StorageNotFound);
    expect(mapFileError(missing, uri)).toMatchObject({ code: 'STORAGE_NOT_FOUND', uri, cause: missing });
    expect(mapFileError(errnoError('EACCES'), uri)).toBeInstanceOf(StorageAccessDenied);
    expect(mapFileError(errnoError('EPERM'), uri)).toMatchObject({ code: 'STORAGE_ACCESS_DENIED', uri });
  });

  it('passes other failures through', () => {
    const full = errnoError('ENOSPC');
    expect(mapFileError(full, uri)).toBe(full);
  });
});

describe('mapS3Error', () => {
  const uri = 's3://bucket/key';

  it('says which part is missing', () => {
    expect(mapS3Error(sdkError('NoSuchKey', 404), uri)).toMatchObject({ missing: 'key', uri });
    expect(mapS3Error(sdkError('NoSuchBucket', 404), uri)).toMatchObject({ missing: 'bucket', uri });
    const head = mapS3Error(sdkError('NotFound', 404), uri);
    expect(head).toBeInstanceOf(StorageNotFound);
    expect((head as Error).message).toBe(
      'Not found: s3://bucket/key (no object with this key, or the bucket does not exist)',
    );
  });

  it('maps 403 to StorageAccessDenied and passes other failures through', () => {
    expect(mapS3Error(sdkError('AccessDenied', 403), uri)).toBeInstanceOf(StorageAccessDenied);
    expect(mapS3Error(sdkError('Forbidden', 403), uri)).toMatchObject({ code: 'STORAGE_ACCESS_DENIED' });
    const invalid = sdkError('InvalidArgument', 400);
    expect(mapS3Error(invalid, uri)).toBe(invalid);
  });
});
