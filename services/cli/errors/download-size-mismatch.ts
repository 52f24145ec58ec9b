import { QuiverError } from '../../../schemas/errors/quiver-error.js';

/** A downloaded part's size differs from the bytes its manifest records: the copy is incomplete or stale. */
export class DownloadSizeMismatch extends QuiverError {
  static readonly code = 'DOWNLOAD_SIZE_MISMATCH';

  constructor(
    readonly uri: string,
    readonly expectedBytes: number,
    readonly actualBytes: number,
  ) {
    super(
      DownloadSizeMismatch.code,
      `${DownloadSizeMismatch.code}: ${uri}: got ${actualBytes} bytes, the manifest records ${expectedBytes}`,
      { location: { uri } },
    );
  }
}
