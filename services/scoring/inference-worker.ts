/**
 * Entry of the inference worker thread: owns ONE onnxruntime-node session, so the blocking
 * `session.run()` stalls this thread, never the main one. Started by `worker-inference-host.ts`.
 */
import { existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { InferenceSession, listSupportedBackends, Tensor } from 'onnxruntime-node';
import { detectGpuCount } from './devices.js';
import { diagnoseVulkan } from './gpu-binding.js';
import { InferenceError } from './errors/inference-error.js';
import { ModelLoadError } from './errors/model-load-error.js';
import {
  makeOrtProbes,
  resolveDevice,
  type ResolvedExecution,
  type SessionOptions,
} from './execution-providers.js';
import type { HostTensor, ModelMetadata, ValueInfo } from './inference-host.js';
import {
  isNumericElementType,
  toWireError,
  transferablesOf,
  type FromWorker,
  type ToWorker,
  type WorkerStart,
} from './inference-worker-protocol.js';

function post(port: MessagePort, message: FromWorker, transfer: ArrayBuffer[] = []): void {
  port.postMessage(message, transfer);
}

function ortBinaryDir(): string {
  const main = createRequire(import.meta.url).resolve('onnxruntime-node'); // <package>/dist/index.js
  return join(dirname(main), '..', 'bin', 'napi-v6', process.platform, process.arch);
}

async function resolveExecution(start: WorkerStart): Promise<ResolvedExecution> {
  if ('resolved' in start.device) return start.device.resolved;
  const probes = makeOrtProbes({
    ort: { InferenceSession, listSupportedBackends },
    gpuCount: detectGpuCount(),
    binaryDir: ortBinaryDir(),
    fileExists: existsSync,
    diagnoseWebgpu: () => diagnoseVulkan(),
  });
  return resolveDevice(start.device.request, probes, start.tuning);
}

/**
 * ONNX Runtime's errors carry no code, only text; its protobuf and graph checks are the ones that mean
 * "this file is not a (valid) ONNX model".
 */
function modelLoadError(modelPath: string, error: unknown): ModelLoadError {
  const text = error instanceof Error ? error.message : String(error);
  const invalid = /Protobuf parsing failed|INVALID_PROTOBUF|INVALID_GRAPH|ModelProto/i.test(text);
  return new ModelLoadError(invalid ? 'MODEL_INVALID' : 'MODEL_LOAD_FAILED', modelPath, text);
}

async function loadSession(modelPath: string, options: SessionOptions): Promise<InferenceSession> {
  const file = await stat(modelPath).catch(() => undefined);
  if (file === undefined || !file.isFile()) {
    throw new ModelLoadError('MODEL_NOT_FOUND', modelPath, 'no such file');
  }
  try {
    return await InferenceSession.create(modelPath, options);
  } catch (error) {
    throw modelLoadError(modelPath, error);
  }
}

function valueInfo(meta: InferenceSession.ValueMetadata): ValueInfo {
  return meta.isTensor
    ? { name: meta.name, isTensor: true, type: meta.type, shape: [...meta.shape] }
    : { name: meta.name, isTensor: false };
}

/**
 * Runs the model once on the tensor outputs only: a value that is not a tensor (ZipMap's seq(map)) has no
 * HostTensor form, and asking ONNX Runtime for it would fail the whole run. Metadata shows such outputs
 * as `isTensor: false`; what to do about them is the output mapping's decision.
 */
async function runOnce(
  session: InferenceSession,
  fetches: string[],
  feeds: Record<string, HostTensor>,
): Promise<Record<string, HostTensor>> {
  const ortFeeds: Record<string, Tensor> = {};
  for (const [name, t] of Object.entries(feeds)) {
    try {
      ortFeeds[name] = new Tensor(t.type, t.data, t.dims);
    } catch (error) {
      throw new InferenceError('INPUT_TYPE_MISMATCH', `input "${name}": ${(error as Error).message}`, {
        input: name,
      });
    }
  }
  let results: InferenceSession.ReturnType;
  try {
    results = await session.run(ortFeeds, fetches);
  } catch (error) {
    throw new InferenceError('INFERENCE_FAILED', (error as Error).message);
  }
  const outputs: Record<string, HostTensor> = {};
  for (const [name, value] of Object.entries(results)) {
    if (!(value instanceof Tensor) || !isNumericElementType(value.type) || !ArrayBuffer.isView(value.data)) {
      throw new InferenceError('OUTPUT_UNSUPPORTED', `output "${name}" is not a dense numeric tensor`, {
        output: name,
      });
    }
    outputs[name] = { type: value.type, data: value.data, dims: [...value.dims] };
  }
  return outputs;
}

async function serve(port: MessagePort, start: WorkerStart): Promise<void> {
  let session: InferenceSession;
  let execution: ResolvedExecution;
  try {
    execution = await resolveExecution(start);
    session = await loadSession(start.modelPath, execution.sessionOptions);
  } catch (error) {
    post(port, { type: 'start-failed', error: toWireError(error) });
    port.close();
    return;
  }
  const metadata: ModelMetadata = {
    inputs: session.inputMetadata.map(valueInfo),
    outputs: session.outputMetadata.map(valueInfo),
  };
  post(port, {
    type: 'ready',
    metadata,
    device: execution.device,
    ...(execution.warning !== undefined && { warning: execution.warning }),
  });

  const fetches = metadata.outputs.filter((output) => output.isTensor).map((output) => output.name);
  // One message at a time: a run blocks this thread anyway, and `close` must wait for the run before it.
  let queue = Promise.resolve();
  port.on('message', (message: ToWorker) => {
    queue = queue.then(async () => {
      if (message.type === 'run') {
        try {
          if (fetches.length === 0) {
            throw new InferenceError('OUTPUT_UNSUPPORTED', 'the model has no tensor output to fetch');
          }
          const started = performance.now();
          const outputs = await runOnce(session, fetches, message.feeds);
          const seconds = (performance.now() - started) / 1000;
          // The feeds go back too: ONNX Runtime is done with them, and the caller refills them (or runs
          // another model on them).
          const feeds = message.feeds;
          const transfer = transferablesOf([...Object.values(outputs), ...Object.values(feeds)]);
          post(port, { type: 'result', id: message.id, outputs, feeds, seconds }, transfer);
        } catch (error) {
          post(port, { type: 'run-failed', id: message.id, error: toWireError(error) });
        }
      } else {
        await session.release().catch(() => undefined);
        port.close(); // nothing else keeps this thread alive: it exits
      }
    });
  });
}

if (parentPort === null)
  throw new Error('inference-worker.ts is a worker_threads entry; start it as a Worker');
await serve(parentPort, workerData as WorkerStart);
