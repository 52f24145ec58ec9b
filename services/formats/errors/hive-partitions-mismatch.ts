import { QuiverError } from '../../../schemas/errors/quiver-error.js';

/**
 * Under `input.hivePartitioning`, the listed objects' folders do not all name the same partition keys
 * (DuckDB refuses such a listing too). Permanent: the job fails at planning, naming the folders.
 */
export class HivePartitionsMismatch extends QuiverError {
  static readonly code = 'HIVE_PARTITIONS_MISMATCH';

  constructor(detail: string, options?: { cause?: unknown }) {
    super(HivePartitionsMismatch.code, `HIVE_PARTITIONS_MISMATCH: ${detail}`, {
      permanent: true,
      location: { field: 'input.hivePartitioning' },
      ...options,
    });
  }
}
