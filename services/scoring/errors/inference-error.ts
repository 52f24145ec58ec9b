import { QuiverError } from '../../../schemas/errors/quiver-error.js';

/**
 * - `INPUT_MISSING` / `INPUT_UNKNOWN`: a model input has no feed, or a feed names no model input.
 * - `INPUT_TYPE_MISMATCH` / `INPUT_SHAPE_MISMATCH`: a feed's element type, rank, fixed dimension or
 *   element count disagrees with the model or with itself.
 * - `OUTPUT_UNSUPPORTED`: an output is not a dense numeric tensor (string tensors, sequences, maps).
 * - `INFERENCE_FAILED`: ONNX Runtime refused or failed the run; the message carries its text.
 */
export type InferenceCode =
  | 'INPUT_MISSING'
  | 'INPUT_UNKNOWN'
  | 'INPUT_TYPE_MISMATCH'
  | 'INPUT_SHAPE_MISMATCH'
  | 'OUTPUT_UNSUPPORTED'
  | 'INFERENCE_FAILED';

/**
 * One run of the model failed. `input`/`output` name the value at fault where it is known. Permanent
 * except `INFERENCE_FAILED`: feeds that disagree with the model disagree again on a retry, while a failed
 * run (out of device memory, a provider hiccup) may succeed on another attempt.
 */
export class InferenceError extends QuiverError {
  declare readonly code: InferenceCode;

  constructor(
    code: InferenceCode,
    readonly detail: string,
    readonly where: { input?: string; output?: string } = {},
  ) {
    super(code, `${code}: ${detail}`, { permanent: code !== 'INFERENCE_FAILED' });
  }
}
