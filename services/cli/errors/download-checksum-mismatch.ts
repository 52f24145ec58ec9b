/** A downloaded file's SHA-256 differs from the one its manifest records: the copy is not what was scored. */
export class DownloadChecksumMismatch extends Error {
  static readonly code = 'DOWNLOAD_CHECKSUM_MISMATCH';
  override readonly name = 'DownloadChecksumMismatch';
  readonly code = DownloadChecksumMismatch.code;

  constructor(
    readonly uri: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`${DownloadChecksumMismatch.code}: ${uri}: got sha256 ${actual}, the manifest records ${expected}`);
  }
}
