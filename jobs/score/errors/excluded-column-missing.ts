import { QuiverError } from '../../../schemas/errors/quiver-error.js';

/**
 * `output.exclude` names a column the input object lacks. Permanent: a name that matches nothing is a typo
 * that would otherwise leave the column it meant in the output unnoticed.
 */
export class ExcludedColumnMissing extends QuiverError {
  static readonly code = 'EXCLUDED_COLUMN_MISSING';

  constructor(
    readonly column: string,
    readonly columns: readonly string[],
    uri: string | undefined,
  ) {
    super(
      ExcludedColumnMissing.code,
      `EXCLUDED_COLUMN_MISSING: output.exclude names "${column}", which ${uri ?? 'the input'} lacks (columns: ${columns.join(', ')})`,
      {
        permanent: true,
        location: { column, field: 'output.exclude', ...(uri === undefined ? {} : { uri }) },
      },
    );
  }
}
