import { QuiverError } from '../../../schemas/errors/quiver-error.js';

/**
 * - `MODEL_NOT_FOUND`: no file at the path.
 * - `MODEL_INVALID`: the file is not an ONNX model ONNX Runtime can parse (bad protobuf, invalid graph).
 * - `MODEL_LOAD_FAILED`: any other failure creating the session (unsupported opset or operator, provider
 *   failure); the message carries ONNX Runtime's own text.
 */
export type ModelLoadCode = 'MODEL_NOT_FOUND' | 'MODEL_INVALID' | 'MODEL_LOAD_FAILED';

/**
 * The model could not be loaded into a session. Permanent for the job, whatever its code: retrying loads
 * the same bytes. `location.uri` is `modelPath`: the cached file's path where the session is made, the
 * model URI once the scorer re-raises it for the job.
 */
export class ModelLoadError extends QuiverError {
  declare readonly code: ModelLoadCode;

  constructor(
    code: ModelLoadCode,
    readonly modelPath: string,
    readonly detail: string,
  ) {
    super(code, `${code}: ${modelPath}: ${detail}`, { permanent: true, location: { uri: modelPath } });
  }
}
