import { QuiverError } from '../../../schemas/errors/quiver-error.js';

export type FeatureMappingCode =
  | 'FEATURE_COLUMN_MISSING'
  | 'FEATURE_WIDTH_MISMATCH'
  | 'FEATURE_TYPE_UNSUPPORTED'
  | 'FEATURE_NULL'
  | 'FEATURE_MAPPING_AMBIGUOUS'
  | 'FEATURE_INPUT_UNKNOWN'
  | 'MODEL_OUTPUT_UNSUPPORTED';

/**
 * The data's columns cannot be mapped onto the model's inputs (or its outputs onto columns). Permanent for
 * the job, whatever its code: the same data meets the same model on a retry. The message names the model
 * input or output and the column, and `row` the row when one is at fault (0-based within the batch handed
 * to the mapper). `location` starts with that column and batch row; the chunk's scorer, which knows where
 * the batch came from, replaces it with the object and its row.
 */
export class FeatureMappingError extends QuiverError {
  declare readonly code: FeatureMappingCode;

  constructor(
    code: FeatureMappingCode,
    message: string,
    readonly where: { input?: string; output?: string; column?: string; row?: number } = {},
  ) {
    super(code, `${code}: ${message}`, {
      permanent: true,
      location: { column: where.column, row: where.row },
    });
  }
}
