import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { InferenceSession, listSupportedBackends } from 'onnxruntime-node';
import { formatDeviceRequest, type DeviceRequest } from './devices.js';
import { DeviceUnavailableError } from './errors/device-unavailable-error.js';
import type { ResolvedDevice } from './inference-host.js';

export type SessionOptions = InferenceSession.SessionOptions;

/** Whether a provider can run on one GPU here; `reason` says why not, in words a user can act on. */
export type ProbeResult = { available: true } | { available: false; reason: string };

/** What {@link resolveDevice} asks of the host; the real ones come from {@link makeOrtProbes}. */
export interface ProviderProbes {
  /** GPUs on this host (`detectGpuCount`); GPU indexes must be below it. */
  gpuCount: number;
  cuda(index: number): Promise<ProbeResult>;
  webgpu(index: number): Promise<ProbeResult>;
}

export interface SessionTuning {
  /** ONNX Runtime's intra-op threads (one operator's parallelism). Default: `os.availableParallelism()`. */
  intraOpThreads?: number;
}

/** A device after provider choice, with the session options that run a model on it. */
export interface ResolvedExecution {
  device: ResolvedDevice;
  sessionOptions: SessionOptions;
  /** One line to log when the request could not be honoured as asked (a GPU request scored on the CPU). */
  warning?: string;
}

/** How to get the CUDA provider; onnxruntime-node ships without it (see GPU.md). */
export const CUDA_HOW_TO =
  'install the CUDA provider with `npm install onnxruntime-node --onnxruntime-node-install=cuda12` ' +
  '(downloads it from outside the npm registry) on a host with CUDA 12 and cuDNN 9';

/** How to get the WebGPU provider working on an NVIDIA host (see GPU.md). */
export const WEBGPU_HOW_TO =
  'install the Vulkan loader (`libvulkan1`) and the NVIDIA driver with its glvnd libraries (`libglvnd0`, `libglx0`)';

/**
 * onnxruntime-node 1.30 has no way to pick a WebGPU adapter: its binding rejects `deviceId` on the webgpu
 * provider ("unrecognized option"), and the provider's own `deviceId` names a custom WebGPU context, not
 * an adapter. Dawn takes its default adapter, so a process reaches one GPU: `quiver worker --devices`
 * binds each device process to its own (`gpu-binding.ts`), where it is GPU 0.
 */
const WEBGPU_ONLY_GPU_0 =
  'onnxruntime-node 1.30 cannot choose a WebGPU adapter by index (Dawn always takes its default one), so ' +
  'in one process WebGPU serves GPU 0 only; `quiver worker --devices` runs one process per GPU, each ' +
  'bound to its own GPU (where it is GPU 0)';

/**
 * Session options for a resolved device. Every provider gets full graph optimization and one inter-op
 * thread (Quiver runs one batch at a time per session); intra-op threads default to the cores, which on
 * a GPU still serve the operators the GPU provider leaves to the CPU. CUDA takes its `deviceId`; WebGPU
 * takes no index (see {@link WEBGPU_ONLY_GPU_0}), and ONNX Runtime adds the CPU provider as fallback.
 */
export function sessionOptionsFor(device: ResolvedDevice, tuning: SessionTuning = {}): SessionOptions {
  const threads = tuning.intraOpThreads ?? availableParallelism();
  if (!Number.isInteger(threads) || threads < 1) {
    throw new RangeError(`intraOpThreads must be a positive integer, got ${threads}`);
  }
  // ONNX Runtime's intra-op threads spin between runs by default, holding every core while this process's
  // main thread needs one to map the next batch and do I/O. Off, the engine scored the tabular MLP at
  // 2.2-2.4 M rows/s instead of 1.5-1.7 M (2 cores, 4,096-row calls).
  const common = {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
  } as const;
  switch (device.provider) {
    case 'cpu':
      return { ...common, executionProviders: ['cpu'] };
    case 'cuda':
      return { ...common, executionProviders: [{ name: 'cuda', deviceId: device.index }] };
    case 'webgpu':
      return { ...common, executionProviders: [{ name: 'webgpu' }] };
  }
}

function gpuDevice(provider: 'cuda' | 'webgpu', index: number): ResolvedDevice {
  return { label: `${provider}:${index}`, provider, index };
}

const CPU: ResolvedDevice = { label: 'cpu', provider: 'cpu', index: 0 };

async function probeWebgpu(probes: ProviderProbes, index: number): Promise<ProbeResult> {
  return index === 0 ? probes.webgpu(index) : { available: false, reason: WEBGPU_ONLY_GPU_0 };
}

/** Why a provider cannot run, and what would make it run. */
function explain(provider: 'cuda' | 'webgpu', index: number, reason: string): string {
  if (provider === 'webgpu' && index > 0) return reason; // no install helps; the reason says what does
  return `${reason}; to use it, ${provider === 'cuda' ? CUDA_HOW_TO : WEBGPU_HOW_TO}`;
}

/**
 * Chooses the provider for one request. `cpu` is the CPU. `cuda:N` and `webgpu:N` are that provider or a
 * {@link DeviceUnavailableError}: a provider named explicitly never falls back. `gpu:N` takes `cuda` when
 * its provider loads, else `webgpu`, else the CPU with one warning that says why each GPU provider failed
 * and how to get one. A GPU index at or past `probes.gpuCount` is a DeviceUnavailableError.
 */
export async function resolveDevice(
  request: DeviceRequest,
  probes: ProviderProbes,
  tuning: SessionTuning = {},
): Promise<ResolvedExecution> {
  const resolved = (device: ResolvedDevice, warning?: string): ResolvedExecution => ({
    device,
    sessionOptions: sessionOptionsFor(device, tuning),
    ...(warning !== undefined && { warning }),
  });
  if (request.kind === 'cpu') return resolved(CPU, request.warning);

  const asked = formatDeviceRequest(request);
  const { index } = request;
  if (!Number.isInteger(index) || index < 0 || index >= probes.gpuCount) {
    const gpus =
      probes.gpuCount === 0 ? 'this host has no GPU' : `this host has GPUs 0 to ${probes.gpuCount - 1}`;
    throw new DeviceUnavailableError(asked, `GPU index ${index} is out of range: ${gpus}`);
  }

  if (request.kind === 'cuda' || request.kind === 'webgpu') {
    const probe = request.kind === 'cuda' ? await probes.cuda(index) : await probeWebgpu(probes, index);
    if (!probe.available) throw new DeviceUnavailableError(asked, explain(request.kind, index, probe.reason));
    return resolved(gpuDevice(request.kind, index));
  }

  const cuda = await probes.cuda(index);
  if (cuda.available) return resolved(gpuDevice('cuda', index));
  const webgpu = await probeWebgpu(probes, index);
  if (webgpu.available) return resolved(gpuDevice('webgpu', index));
  return resolved(
    CPU,
    `${asked}: no GPU provider loads, scoring on the CPU instead (an order of magnitude slower for ` +
      `compute-heavy models). CUDA: ${explain('cuda', index, cuda.reason)}. ` +
      `WebGPU: ${explain('webgpu', index, webgpu.reason)}.`,
  );
}

/** The parts of onnxruntime-node the real probes use. */
export interface OrtForProbes {
  InferenceSession: Pick<typeof InferenceSession, 'create'>;
  listSupportedBackends: typeof listSupportedBackends;
}

/**
 * A one-node model (Identity on float32[1]): creating a session from it with a provider is the cheapest
 * proof that the provider's libraries load and find their device.
 */
const PROBE_MODEL = Buffer.from(
  'CAgSBnF1aXZlcjo7ChAKAXgSAXkiCElkZW50aXR5EgVwcm9iZVoPCgF4EgoKCAgBEgQKAggBYg8KAXkSCgoICAESBAoCCAFCBAoAEBE=',
  'base64',
);

function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return (text.split('\n').find((line) => line.trim() !== '') ?? text).trim();
}

/**
 * Probes that try the real providers, for the thread that will own the session (the WebGPU device a probe
 * opens is process-wide and is reused by the session that follows).
 * - CUDA: listed by `listSupportedBackends()`, and either bundled or its provider library present in
 *   onnxruntime-node's binary folder (checked first, so hosts without it log no load failure), then a
 *   session on the GPU.
 * - WebGPU: a session on the default adapter; fails without a Vulkan adapter, and then says what this host
 *   lacks (loader, driver manifest, glvnd, a GPU at all).
 */
export function makeOrtProbes(deps: {
  ort: OrtForProbes;
  gpuCount: number;
  /** onnxruntime-node's folder of native libraries (`bin/napi-v6/<platform>/<arch>`). */
  binaryDir: string;
  fileExists(path: string): boolean;
  /** What a failed WebGPU start lacks on this host ({@link diagnoseVulkan}); undefined when nothing is seen missing. */
  diagnoseWebgpu?(): string | undefined;
}): ProviderProbes {
  const trySession = async (provider: InferenceSession.ExecutionProviderConfig): Promise<ProbeResult> => {
    try {
      const session = await deps.ort.InferenceSession.create(PROBE_MODEL, { executionProviders: [provider] });
      await session.release();
      return { available: true };
    } catch (error) {
      return { available: false, reason: `its provider failed to start (${firstLine(error)})` };
    }
  };
  return {
    gpuCount: deps.gpuCount,
    cuda: async (index) => {
      const backend = deps.ort.listSupportedBackends().find((b) => b.name === 'cuda');
      if (backend === undefined) {
        return {
          available: false,
          reason: 'this onnxruntime-node build has no CUDA provider for this platform',
        };
      }
      const library = join(deps.binaryDir, 'libonnxruntime_providers_cuda.so');
      if (!backend.bundled && !deps.fileExists(library)) {
        return { available: false, reason: `the CUDA provider is not installed (no ${library})` };
      }
      return trySession({ name: 'cuda', deviceId: index });
    },
    webgpu: async () => {
      const backend = deps.ort.listSupportedBackends().find((b) => b.name === 'webgpu');
      if (backend === undefined) {
        return {
          available: false,
          reason: 'this onnxruntime-node build has no WebGPU provider for this platform',
        };
      }
      const probe = await trySession({ name: 'webgpu' });
      const missing = probe.available ? undefined : deps.diagnoseWebgpu?.();
      return probe.available || missing === undefined
        ? probe
        : { available: false, reason: `${probe.reason}: ${missing}` };
    },
  };
}
