import { QuiverError } from '../../../schemas/errors/quiver-error.js';

/**
 * A Parquet file declares a footer (its FileMetaData) larger than a reader accepts (default 64 MiB, the
 * `maxFooterBytes` option of `readParquetFooter`). Footers are a few KiB, or a few MiB for very wide files;
 * a larger one is a corrupt length or a file no planner should hold in memory. Refused from the declared
 * length, before the footer is fetched. Permanent: retrying reads the same bytes.
 */
export class ParquetFooterTooLarge extends QuiverError {
  static readonly code = 'PARQUET_FOOTER_TOO_LARGE';

  constructor(
    readonly uri: string,
    readonly footerBytes: number,
    readonly maxFooterBytes: number,
  ) {
    super(
      ParquetFooterTooLarge.code,
      `${ParquetFooterTooLarge.code}: ${uri} declares a ${footerBytes}-byte footer, over the ${maxFooterBytes}-byte limit`,
      { permanent: true, location: { uri } },
    );
  }
}
