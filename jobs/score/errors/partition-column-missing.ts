import { QuiverError } from '../../../schemas/errors/quiver-error.js';

/**
 * `output.partitionBy` names a column the output rows lack (with `passthrough: "*"` the input's columns
 * are only known once a chunk is read), or the pipeline cannot partition at all. Permanent: every chunk
 * would fail the same way.
 */
export class PartitionColumnMissing extends QuiverError {
  static readonly code = 'PARTITION_COLUMN_MISSING';

  constructor(
    readonly column: string,
    readonly columns: readonly string[],
  ) {
    super(
      PartitionColumnMissing.code,
      `PARTITION_COLUMN_MISSING: output.partitionBy names "${column}", which is not an output column (output columns: ${columns.join(', ')})`,
      { permanent: true, location: { column, field: 'output.partitionBy' } },
    );
  }
}
