/**
 * - `MODEL_NOT_FOUND`: no file at the path.
 * - `MODEL_INVALID`: the file is not an ONNX model ONNX Runtime can parse (bad protobuf, invalid graph).
 * - `MODEL_LOAD_FAILED`: any other failure creating the session (unsupported opset or operator, provider
 *   failure); the message carries ONNX Runtime's own text.
 */
export type ModelLoadCode = 'MODEL_NOT_FOUND' | 'MODEL_INVALID' | 'MODEL_LOAD_FAILED';

/** The model could not be loaded into a session. Permanent for the job: retrying loads the same bytes. */
export class ModelLoadError extends Error {
  override readonly name = 'ModelLoadError';

  constructor(
    readonly code: ModelLoadCode,
    readonly modelPath: string,
    readonly detail: string,
  ) {
    super(`${code}: ${modelPath}: ${detail}`);
  }
}
