import { QuiverError } from '../../../schemas/errors/quiver-error.js';

/**
 * The inference worker thread died (uncaught exception, exit) while the host was open. Every pending run
 * and every later run rejects with it; the host has to be replaced. `cause` holds the worker's error or
 * its exit code.
 */
export class InferenceWorkerCrashedError extends QuiverError {
  static readonly code = 'INFERENCE_WORKER_CRASHED';

  constructor(detail: string, options?: ErrorOptions) {
    super(InferenceWorkerCrashedError.code, `INFERENCE_WORKER_CRASHED: ${detail}`, options);
  }
}
