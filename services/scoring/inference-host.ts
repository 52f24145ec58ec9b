/** Element types Quiver feeds to and reads from models (ONNX Runtime's `Tensor.Type` names). */
export type TensorElementType =
  | 'float32'
  | 'float64'
  | 'int8'
  | 'uint8'
  | 'int16'
  | 'uint16'
  | 'int32'
  | 'uint32'
  | 'int64'
  | 'uint64'
  | 'bool'
  | 'float16'
  | 'string';

export type TensorData =
  | Float32Array
  | Float64Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array;

/** A dense tensor crossing the thread boundary: its buffer is transferred, not copied. */
export interface HostTensor {
  type: TensorElementType;
  data: TensorData;
  dims: number[];
}

/**
 * One model input or output as the model declares it. `type` is ONNX Runtime's element type name (a
 * `TensorElementType` for everything Quiver feeds or writes); symbolic dimensions are strings (e.g. "N").
 */
export type ValueInfo =
  | { name: string; isTensor: true; type: string; shape: Array<number | string> }
  | { name: string; isTensor: false };

export interface ModelMetadata {
  inputs: ValueInfo[];
  outputs: ValueInfo[];
}

/** The device a session runs on, after provider choice and fallback. */
export interface ResolvedDevice {
  /** `cpu`, `webgpu:0`, `cuda:1`… */
  label: string;
  provider: 'cpu' | 'webgpu' | 'cuda';
  /** GPU ordinal; 0 for the CPU. */
  index: number;
}

export interface RunOptions {
  signal?: AbortSignal;
  /**
   * Receives the feeds' buffers back (before the run's promise settles), so the caller can reuse them
   * instead of allocating fresh memory for every call: fresh pages cost more than the copy into them on
   * a small VM (measured 30–60 ns per 256-byte row). Not called for runs that fail or are aborted.
   */
  recycle?: (buffers: ArrayBuffer[]) => void;
  /**
   * Receives the feeds themselves back instead of `recycle` (views rebuilt on their returned buffers,
   * before the run's promise settles), to feed another model on the same data without copying it.
   * Not called for runs that fail or are aborted.
   */
  passOn?: (feeds: Record<string, HostTensor>) => void;
  /** Told how long the run kept the inference thread busy, in seconds (before the run's promise settles). */
  onRun?: (seconds: number) => void;
}

/**
 * One ONNX Runtime session owned by a worker thread, so `session.run()` (which blocks its thread for the
 * whole run) never stalls the main thread's I/O, heartbeats and lock renewals.
 */
export interface InferenceHost {
  readonly metadata: ModelMetadata;
  readonly device: ResolvedDevice;
  /**
   * Runs the model once. Feed buffers are transferred to the worker (the caller must not reuse them);
   * with `recycle` or `passOn`, they come back once the run is over, for the caller to fill again or to
   * run another model on.
   */
  run(feeds: Record<string, HostTensor>, options?: RunOptions): Promise<Record<string, HostTensor>>;
  /** Ends the worker thread and releases the session. Safe to call twice. */
  close(): Promise<void>;
}
