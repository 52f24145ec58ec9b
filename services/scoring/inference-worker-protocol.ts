import type { DeviceRequest } from './devices.js';
import { DeviceListError } from './errors/device-list-error.js';
import { DeviceUnavailableError } from './errors/device-unavailable-error.js';
import { InferenceError, type InferenceCode } from './errors/inference-error.js';
import { ModelLoadError, type ModelLoadCode } from './errors/model-load-error.js';
import type { ResolvedExecution, SessionTuning } from './execution-providers.js';
import type { HostTensor, ModelMetadata, ResolvedDevice, TensorElementType } from './inference-host.js';

/** Messages between `worker-inference-host` (main thread) and `inference-worker` (its thread). */

/** The worker's `workerData`. `entry` is the module the bootstrap imports; the worker ignores it. */
export interface WorkerStart {
  entry: string;
  modelPath: string;
  /** A request is resolved inside the worker, with probes that try the real providers. */
  device: { request: DeviceRequest } | { resolved: ResolvedExecution };
  tuning: SessionTuning;
}

export type ToWorker = { type: 'run'; id: number; feeds: Record<string, HostTensor> } | { type: 'close' };

export type FromWorker =
  | { type: 'ready'; metadata: ModelMetadata; device: ResolvedDevice; warning?: string }
  | { type: 'start-failed'; error: WireError }
  /** `feeds`: the run's feeds, their buffers handed back for reuse. */
  | {
      type: 'result';
      id: number;
      outputs: Record<string, HostTensor>;
      feeds: Record<string, HostTensor>;
      /** Seconds the run took on the worker thread (tensors wrapped, `session.run()`, outputs read). */
      seconds: number;
    }
  | { type: 'run-failed'; id: number; error: WireError };

/** Errors cross the thread boundary as data: structured clone keeps no class, so each is rebuilt. */
export type WireError =
  | { kind: 'model-load'; code: ModelLoadCode; modelPath: string; detail: string }
  | { kind: 'inference'; code: InferenceCode; detail: string; where: { input?: string; output?: string } }
  | { kind: 'device-unavailable'; device: string; reason: string }
  | { kind: 'device-list'; token: string; detail: string }
  | { kind: 'other'; name: string; message: string; stack?: string };

export function toWireError(error: unknown): WireError {
  if (error instanceof ModelLoadError) {
    return { kind: 'model-load', code: error.code, modelPath: error.modelPath, detail: error.detail };
  }
  if (error instanceof InferenceError) {
    return { kind: 'inference', code: error.code, detail: error.detail, where: error.where };
  }
  if (error instanceof DeviceUnavailableError) {
    return { kind: 'device-unavailable', device: error.device, reason: error.reason };
  }
  if (error instanceof DeviceListError)
    return { kind: 'device-list', token: error.token, detail: error.detail };
  if (error instanceof Error) {
    return {
      kind: 'other',
      name: error.name,
      message: error.message,
      ...(error.stack && { stack: error.stack }),
    };
  }
  return { kind: 'other', name: 'Error', message: String(error) };
}

export function fromWireError(wire: WireError): Error {
  switch (wire.kind) {
    case 'model-load':
      return new ModelLoadError(wire.code, wire.modelPath, wire.detail);
    case 'inference':
      return new InferenceError(wire.code, wire.detail, wire.where);
    case 'device-unavailable':
      return new DeviceUnavailableError(wire.device, wire.reason);
    case 'device-list':
      return new DeviceListError(wire.token, wire.detail);
    case 'other': {
      const error = new Error(wire.message);
      error.name = wire.name;
      if (wire.stack !== undefined) error.stack = wire.stack;
      return error;
    }
  }
}

/** The typed array that carries each numeric element type (ONNX Runtime's choice; bool is bytes). */
export const ELEMENT_ARRAYS: Partial<Record<TensorElementType, string>> = {
  float32: 'Float32Array',
  float64: 'Float64Array',
  int8: 'Int8Array',
  uint8: 'Uint8Array',
  bool: 'Uint8Array',
  int16: 'Int16Array',
  uint16: 'Uint16Array',
  float16: 'Uint16Array',
  int32: 'Int32Array',
  uint32: 'Uint32Array',
  int64: 'BigInt64Array',
  uint64: 'BigUint64Array',
};

export function isNumericElementType(type: string): type is TensorElementType {
  return type in ELEMENT_ARRAYS;
}

/** The distinct, transferable buffers under some tensors (a SharedArrayBuffer is shared, never moved). */
export function transferablesOf(tensors: Iterable<HostTensor>): ArrayBuffer[] {
  const buffers = new Set<ArrayBuffer>();
  for (const { data } of tensors) {
    if (data.buffer instanceof ArrayBuffer) buffers.add(data.buffer);
  }
  return [...buffers];
}
