import { StorageError } from './storage-error.js';

/**
 * A response body ended with a byte count other than the one asked for (a connection dropped mid-body).
 * Classified as transient: the read is retried instead of handing a short buffer to a decoder.
 */
export class IncompleteRead extends StorageError {
  static readonly code = 'STORAGE_INCOMPLETE_READ';
  readonly expectedBytes: number;
  readonly receivedBytes: number;

  constructor(uri: string, expectedBytes: number, receivedBytes: number, options?: { cause?: unknown }) {
    super(
      IncompleteRead.code,
      uri,
      `Incomplete read of ${uri}: expected ${expectedBytes} bytes, received ${receivedBytes}`,
      options,
    );
    this.expectedBytes = expectedBytes;
    this.receivedBytes = receivedBytes;
  }
}
