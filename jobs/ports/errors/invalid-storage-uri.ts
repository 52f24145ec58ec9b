import { StorageError } from './storage-error.js';

export class InvalidStorageUri extends StorageError {
  static readonly code = 'STORAGE_INVALID_URI';

  constructor(uri: string, reason: string) {
    super(InvalidStorageUri.code, uri, `Invalid storage URI ${JSON.stringify(uri)}: ${reason}`);
  }
}
