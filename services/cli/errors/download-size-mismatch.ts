/** A downloaded part's size differs from the bytes its manifest records: the copy is incomplete or stale. */
export class DownloadSizeMismatch extends Error {
  static readonly code = 'DOWNLOAD_SIZE_MISMATCH';
  override readonly name = 'DownloadSizeMismatch';
  readonly code = DownloadSizeMismatch.code;

  constructor(
    readonly uri: string,
    readonly expectedBytes: number,
    readonly actualBytes: number,
  ) {
    super(
      `${DownloadSizeMismatch.code}: ${uri}: got ${actualBytes} bytes, the manifest records ${expectedBytes}`,
    );
  }
}
