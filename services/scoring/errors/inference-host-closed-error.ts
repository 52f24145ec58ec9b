/** A run asked of an inference host that is closing or closed; runs pending at `close()` get it too. */
export class InferenceHostClosedError extends Error {
  static readonly code = 'INFERENCE_HOST_CLOSED';
  override readonly name = 'InferenceHostClosedError';
  readonly code = InferenceHostClosedError.code;

  constructor(detail = 'the inference host is closed') {
    super(`INFERENCE_HOST_CLOSED: ${detail}`);
  }
}
