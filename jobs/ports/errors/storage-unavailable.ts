import { StorageError } from './storage-error.js';

/** Transient failures (throttling, 5xx, resets, timeouts) outlasted every retry; `cause` is the last one. */
export class StorageUnavailable extends StorageError {
  static readonly code = 'STORAGE_UNAVAILABLE';
  readonly attempts: number;

  constructor(uri: string, attempts: number, options?: { cause?: unknown }) {
    const last = options?.cause instanceof Error ? `: ${options.cause.name}: ${options.cause.message}` : '';
    super(
      StorageUnavailable.code,
      uri,
      `Storage unavailable for ${uri} after ${attempts} attempt(s)${last}`,
      options,
    );
    this.attempts = attempts;
  }
}
