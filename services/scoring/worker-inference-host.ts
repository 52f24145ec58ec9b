import { Worker } from 'node:worker_threads';
import type { DeviceRequest } from './devices.js';
import { InferenceError } from './errors/inference-error.js';
import { InferenceHostClosedError } from './errors/inference-host-closed-error.js';
import { InferenceWorkerCrashedError } from './errors/inference-worker-crashed-error.js';
import type { ResolvedExecution } from './execution-providers.js';
import type {
  HostTensor,
  InferenceHost,
  ModelMetadata,
  ResolvedDevice,
  RunOptions,
  TensorData,
} from './inference-host.js';
import {
  ELEMENT_ARRAYS,
  fromWireError,
  transferablesOf,
  type FromWorker,
  type ToWorker,
  type WorkerStart,
} from './inference-worker-protocol.js';

export interface WorkerInferenceHostOptions {
  /** Path of the `.onnx` file on local disk. */
  modelPath: string;
  /**
   * What to run on: a request (`{ kind: 'gpu', index: 0 }`), whose provider the worker chooses with
   * probes that try the real providers, or an already resolved device with its session options.
   * Default: the CPU.
   */
  device?: DeviceRequest | ResolvedExecution;
  /** ONNX Runtime intra-op threads when `device` is a request. Default: `os.availableParallelism()`. */
  intraOpThreads?: number;
  /**
   * How long `close()` waits for the worker to release its session and exit before terminating it.
   * A run in progress cannot be cut short either way. Default: 5,000 ms.
   */
  closeTimeoutMs?: number;
  /** The worker's entry module. Default: `inference-worker` beside this file; tests substitute their own. */
  workerUrl?: URL;
}

export type WorkerInferenceHostState = 'ready' | 'closing' | 'closed' | 'crashed';

export interface WorkerInferenceHost extends InferenceHost {
  /** `crashed`: the worker died; every run rejects with the InferenceWorkerCrashedError that says why. */
  readonly state: WorkerInferenceHostState;
  /** Set when the device request was not honoured as asked (a GPU request running on the CPU): log it. */
  readonly warning: string | undefined;
}

function arrayName(data: TensorData): string {
  return Object.prototype.toString.call(data).slice(8, -1);
}

/**
 * Checks feeds against the model before they leave this thread, so a mistake names the input and the
 * caller's buffers are not yet transferred. Dimensions the model fixes must match; symbolic ones are free.
 *
 * @throws InferenceError `INPUT_MISSING`, `INPUT_UNKNOWN`, `INPUT_TYPE_MISMATCH` or `INPUT_SHAPE_MISMATCH`.
 */
export function validateFeeds(metadata: ModelMetadata, feeds: Record<string, HostTensor>): void {
  for (const input of metadata.inputs) {
    if (!(input.name in feeds)) {
      throw new InferenceError('INPUT_MISSING', `no feed for model input "${input.name}"`, {
        input: input.name,
      });
    }
  }
  for (const [name, tensor] of Object.entries(feeds)) {
    const input = metadata.inputs.find((i) => i.name === name);
    const where = { input: name };
    if (input === undefined) {
      const known = metadata.inputs.map((i) => `"${i.name}"`).join(', ');
      throw new InferenceError('INPUT_UNKNOWN', `"${name}" is not a model input (inputs: ${known})`, where);
    }
    if (!input.isTensor) {
      throw new InferenceError('INPUT_TYPE_MISMATCH', `input "${name}" is not a tensor input`, where);
    }
    if (tensor.type !== input.type) {
      throw new InferenceError(
        'INPUT_TYPE_MISMATCH',
        `input "${name}" is ${input.type}, fed ${tensor.type}`,
        where,
      );
    }
    const expectedArray = ELEMENT_ARRAYS[tensor.type];
    if (expectedArray === undefined || arrayName(tensor.data) !== expectedArray) {
      throw new InferenceError(
        'INPUT_TYPE_MISMATCH',
        `input "${name}" (${tensor.type}) needs a ${expectedArray ?? 'numeric typed array'}, got ${arrayName(tensor.data)}`,
        where,
      );
    }
    const shape = `[${tensor.dims.join(', ')}]`;
    if (input.shape.length > 0) {
      const model = `[${input.shape.join(', ')}]`;
      const fits =
        tensor.dims.length === input.shape.length &&
        input.shape.every((d, i) => typeof d !== 'number' || d < 0 || d === tensor.dims[i]);
      if (!fits) {
        throw new InferenceError(
          'INPUT_SHAPE_MISMATCH',
          `input "${name}" has shape ${model}, fed ${shape}`,
          where,
        );
      }
    }
    const elements = tensor.dims.reduce((n, d) => n * d, 1);
    if (tensor.dims.some((d) => !Number.isInteger(d) || d < 0) || elements !== tensor.data.length) {
      throw new InferenceError(
        'INPUT_SHAPE_MISMATCH',
        `input "${name}": shape ${shape} holds ${elements} elements, its data has ${tensor.data.length}` +
          (tensor.data.length === 0 ? ' (a buffer already transferred by an earlier run?)' : ''),
        where,
      );
    }
  }
}

/** `.ts` when running from source (tsx, vitest): the worker then starts through the tsx bootstrap. */
function workerSpec(entry: URL): { script: URL; entry: string } {
  const fromSource = /\.[mc]?ts$/.test(entry.pathname);
  return {
    script: fromSource ? new URL('./inference-worker-bootstrap.js', import.meta.url) : entry,
    entry: entry.href,
  };
}

function defaultWorkerUrl(): URL {
  const self = new URL(import.meta.url);
  const extension = /\.[mc]?[jt]s$/.exec(self.pathname)?.[0] ?? '.js';
  return new URL(`./inference-worker${extension}`, self);
}

/** The signal's reason (an AbortError DOMException unless the caller gave one) as an Error. */
function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error) return reason;
  return Object.assign(new DOMException('the run was aborted', 'AbortError'), { cause: reason });
}

interface PendingRun {
  resolve(outputs: Record<string, HostTensor>, feeds: Record<string, HostTensor>, seconds: number): void;
  reject(error: Error): void;
}

/**
 * Starts a worker thread that loads the model into one ONNX Runtime session and serves `run` calls.
 * Resolves once the session is ready (device chosen, model loaded); rejects with the error that stopped it
 * (`DeviceUnavailableError`, `ModelLoadError`, `InferenceWorkerCrashedError`), the worker gone.
 *
 * Feeds and outputs cross the thread boundary as transferred ArrayBuffers: no copy either way, and the
 * caller's feed buffers are detached by `run`. An AbortSignal rejects its run at once, but the run itself
 * cannot be interrupted (ONNX Runtime's run blocks the worker thread): the worker finishes it, drops the
 * result, and later runs wait behind it. Likewise `close()` during a run returns when that run ends.
 */
export async function makeWorkerInferenceHost(
  options: WorkerInferenceHostOptions,
): Promise<WorkerInferenceHost> {
  const device = options.device ?? { kind: 'cpu', index: 0 };
  const closeTimeoutMs = options.closeTimeoutMs ?? 5_000;
  const { script, entry } = workerSpec(options.workerUrl ?? defaultWorkerUrl());
  const start: WorkerStart = {
    entry,
    modelPath: options.modelPath,
    device: 'sessionOptions' in device ? { resolved: device } : { request: device },
    tuning: options.intraOpThreads !== undefined ? { intraOpThreads: options.intraOpThreads } : {},
  };
  const worker = new Worker(script, { workerData: start });

  let state: WorkerInferenceHostState | 'starting' = 'starting';
  let crash: InferenceWorkerCrashedError | undefined;
  let uncaught: Error | undefined;
  let ready: (message: Extract<FromWorker, { type: 'ready' }>) => void = () => undefined;
  let failed: (error: unknown) => void = () => undefined;
  const started = new Promise<Extract<FromWorker, { type: 'ready' }>>((resolve, reject) => {
    ready = resolve;
    failed = reject;
  });
  const pending = new Map<number, PendingRun>();
  let nextId = 1;

  const rejectPending = (error: Error): void => {
    const runs = [...pending.values()];
    pending.clear();
    for (const run of runs) run.reject(error);
  };
  const exited = new Promise<number>((resolve) => {
    worker.once('exit', (code) => {
      if (state === 'starting' || state === 'ready') {
        const detail = uncaught
          ? `the inference worker threw: ${uncaught.message}`
          : `the inference worker exited with code ${code}`;
        crash = new InferenceWorkerCrashedError(detail, { cause: uncaught ?? code });
        failed(crash);
        state = 'crashed';
        rejectPending(crash);
      }
      resolve(code);
    });
  });
  worker.on('error', (error) => {
    uncaught = error; // 'exit' follows and reports it
  });
  worker.on('messageerror', (error) => {
    uncaught = error;
    void worker.terminate();
  });
  worker.on('message', (message: FromWorker) => {
    switch (message.type) {
      case 'ready':
        ready(message);
        return;
      case 'start-failed':
        failed(fromWireError(message.error));
        return;
      case 'result':
      case 'run-failed': {
        // An aborted run's result arrives for nobody and is dropped.
        const run = pending.get(message.id);
        pending.delete(message.id);
        if (message.type === 'result') run?.resolve(message.outputs, message.feeds, message.seconds);
        else run?.reject(fromWireError(message.error));
      }
    }
  });

  let ok: Extract<FromWorker, { type: 'ready' }>;
  try {
    ok = await started;
  } catch (error) {
    state = 'closed';
    await worker.terminate();
    throw error;
  }
  state = 'ready';

  let closing: Promise<void> | undefined;
  const close = async (): Promise<void> => {
    if (state === 'ready') state = 'closing';
    rejectPending(new InferenceHostClosedError('the inference host was closed before this run finished'));
    try {
      worker.postMessage({ type: 'close' } satisfies ToWorker);
    } catch {
      // already gone: terminate below settles it
    }
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), closeTimeoutMs);
    });
    try {
      if ((await Promise.race([exited, timedOut])) === 'timeout') await worker.terminate();
    } finally {
      clearTimeout(timer);
      state = 'closed';
    }
  };

  return {
    metadata: ok.metadata,
    device: ok.device satisfies ResolvedDevice,
    warning: ok.warning,
    get state() {
      return state as WorkerInferenceHostState;
    },
    async run(feeds, runOptions: RunOptions = {}) {
      const { signal, recycle, passOn, onRun } = runOptions;
      if (state === 'crashed' && crash) throw crash;
      if (state !== 'ready') throw new InferenceHostClosedError(`the inference host is ${state}`);
      if (signal?.aborted) throw abortError(signal);
      validateFeeds(ok.metadata, feeds);
      const id = nextId++;
      return new Promise((resolve, reject) => {
        const onAbort = (): void => {
          pending.delete(id);
          if (signal) reject(abortError(signal));
        };
        pending.set(id, {
          resolve(outputs, returned, seconds) {
            signal?.removeEventListener('abort', onAbort);
            if (passOn) passOn(returned);
            else recycle?.(transferablesOf(Object.values(returned)));
            onRun?.(seconds);
            resolve(outputs);
          },
          reject(error) {
            signal?.removeEventListener('abort', onAbort);
            reject(error);
          },
        });
        signal?.addEventListener('abort', onAbort, { once: true });
        try {
          worker.postMessage(
            { type: 'run', id, feeds } satisfies ToWorker,
            transferablesOf(Object.values(feeds)),
          );
        } catch (error) {
          pending.get(id)?.reject(error instanceof Error ? error : new Error(String(error)));
          pending.delete(id);
        }
      });
    },
    close() {
      closing ??= close();
      return closing;
    },
  };
}
