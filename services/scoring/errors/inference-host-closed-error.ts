import { QuiverError } from '../../../schemas/errors/quiver-error.js';

/** A run asked of an inference host that is closing or closed; runs pending at `close()` get it too. */
export class InferenceHostClosedError extends QuiverError {
  static readonly code = 'INFERENCE_HOST_CLOSED';

  constructor(detail = 'the inference host is closed') {
    super(InferenceHostClosedError.code, `INFERENCE_HOST_CLOSED: ${detail}`);
  }
}
