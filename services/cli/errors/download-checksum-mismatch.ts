import { QuiverError } from '../../../schemas/errors/quiver-error.js';

/** A downloaded file's SHA-256 differs from the one its manifest records: the copy is not what was scored. */
export class DownloadChecksumMismatch extends QuiverError {
  static readonly code = 'DOWNLOAD_CHECKSUM_MISMATCH';

  constructor(
    readonly uri: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(
      DownloadChecksumMismatch.code,
      `${DownloadChecksumMismatch.code}: ${uri}: got sha256 ${actual}, the manifest records ${expected}`,
      { location: { uri } },
    );
  }
}
