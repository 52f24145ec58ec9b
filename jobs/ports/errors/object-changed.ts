import { StorageError } from './storage-error.js';

/**
 * An object is no longer the version a job planned on (its etag or size+mtime moved, or it is gone). A job
 * reads each input object at one version (DESIGN invariant 8): it fails with this error, never mixing two.
 * Permanent: a retry finds the same new version.
 */
export class ObjectChanged extends StorageError {
  static readonly code = 'INPUT_CHANGED';

  constructor(
    uri: string,
    readonly planned: string,
    /** The version found now; undefined when the object is gone or the server did not say. */
    readonly found: string | undefined,
    options?: { cause?: unknown },
  ) {
    super(
      ObjectChanged.code,
      uri,
      `INPUT_CHANGED: ${uri} changed after planning (planned etag ${planned}, found ${found ?? 'no object'}); resubmit the job to score the new version`,
      { ...options, permanent: true },
    );
  }
}
