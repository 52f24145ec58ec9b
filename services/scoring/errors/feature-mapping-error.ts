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
 * the job: the message names the model input or output and the column, and `row` the row when one is at
 * fault (0-based within the batch handed to the mapper; callers add the chunk's offset).
 */
export class FeatureMappingError extends Error {
  override readonly name = 'FeatureMappingError';

  constructor(
    readonly code: FeatureMappingCode,
    message: string,
    readonly where: { input?: string; output?: string; column?: string; row?: number } = {},
  ) {
    super(`${code}: ${message}`);
  }
}
