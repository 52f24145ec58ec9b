/**
 * The inference worker thread died (uncaught exception, exit) while the host was open. Every pending run
 * and every later run rejects with it; the host has to be replaced. `cause` holds the worker's error or
 * its exit code.
 */
export class InferenceWorkerCrashedError extends Error {
  static readonly code = 'INFERENCE_WORKER_CRASHED';
  override readonly name = 'InferenceWorkerCrashedError';
  readonly code = InferenceWorkerCrashedError.code;

  constructor(detail: string, options?: ErrorOptions) {
    super(`INFERENCE_WORKER_CRASHED: ${detail}`, options);
  }
}
