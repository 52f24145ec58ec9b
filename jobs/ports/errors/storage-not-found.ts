import { StorageError } from './storage-error.js';

/**
 * What is missing. `key-or-bucket` comes from a bodiless 404 (HEAD), where S3 does not say which; telling
 * them apart would cost another request on every miss, and existence checks miss on purpose.
 */
export type MissingPart = 'bucket' | 'key' | 'key-or-bucket' | 'file';

const describe: Record<MissingPart, string> = {
  bucket: 'bucket does not exist',
  key: 'no object with this key',
  'key-or-bucket': 'no object with this key, or the bucket does not exist',
  file: 'no such file or directory',
};

/** The object (or its bucket) does not exist. Permanent: a retry finds it missing too. */
export class StorageNotFound extends StorageError {
  static readonly code = 'STORAGE_NOT_FOUND';
  readonly missing: MissingPart;

  constructor(uri: string, missing: MissingPart, options?: { cause?: unknown }) {
    super(StorageNotFound.code, uri, `Not found: ${uri} (${describe[missing]})`, {
      ...options,
      permanent: true,
    });
    this.missing = missing;
  }
}
