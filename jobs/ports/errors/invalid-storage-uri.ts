import { StorageError } from './storage-error.js';

/** A URI no storage can address (unknown scheme, no bucket, a key that climbs out). Permanent. */
export class InvalidStorageUri extends StorageError {
  static readonly code = 'STORAGE_INVALID_URI';

  constructor(uri: string, reason: string) {
    super(InvalidStorageUri.code, uri, `Invalid storage URI ${JSON.stringify(uri)}: ${reason}`, {
      permanent: true,
    });
  }
}
