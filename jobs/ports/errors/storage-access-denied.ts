import { StorageError } from './storage-error.js';

/** The storage refused the credentials for this object. Permanent: a retry presents the same ones. */
export class StorageAccessDenied extends StorageError {
  static readonly code = 'STORAGE_ACCESS_DENIED';

  constructor(uri: string, options?: { cause?: unknown }) {
    super(StorageAccessDenied.code, uri, `Access denied: ${uri}`, { ...options, permanent: true });
  }
}
