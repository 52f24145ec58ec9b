import { QuiverError } from '../../../schemas/errors/quiver-error.js';

/**
 * A result file could not be fetched or copied: its URL answered an error, its file:// source is not on
 * this machine, or an s3:// part came without a presigned URL.
 */
export class DownloadFailed extends QuiverError {
  static readonly code = 'DOWNLOAD_FAILED';

  constructor(
    readonly uri: string,
    detail: string,
    options?: ErrorOptions,
  ) {
    super(DownloadFailed.code, `${DownloadFailed.code}: ${uri}: ${detail}`, {
      ...options,
      location: { uri },
    });
  }
}
