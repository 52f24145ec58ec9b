import { StorageError } from './storage-error.js';

export class StorageAccessDenied extends StorageError {
  static readonly code = 'STORAGE_ACCESS_DENIED';

  constructor(uri: string, options?: { cause?: unknown }) {
    super(StorageAccessDenied.code, uri, `Access denied: ${uri}`, options);
  }
}
