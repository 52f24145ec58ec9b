import { readdirSync } from 'node:fs';
import { DeviceListError } from './errors/device-list-error.js';

/**
 * What one worker should run on, before provider choice:
 * - `gpu`: GPU `index` with the best provider that loads (`cuda`, else `webgpu`, else the CPU with a warning);
 * - `cuda` / `webgpu`: GPU `index` with exactly that provider, or an error;
 * - `cpu`: the CPU (`index` is 0).
 */
export interface DeviceRequest {
  kind: 'gpu' | 'cuda' | 'webgpu' | 'cpu';
  index: number;
  /** Set when parsing already fell back: `all` on a host without a GPU becomes `cpu` with this warning. */
  warning?: string;
}

/** `gpu:0`, `cuda:1`, `cpu`: the request as a user would write it. */
export function formatDeviceRequest(request: DeviceRequest): string {
  return request.kind === 'cpu' ? 'cpu' : `${request.kind}:${request.index}`;
}

const GPU_KINDS = ['gpu', 'cuda', 'webgpu'] as const;
type GpuKind = (typeof GPU_KINDS)[number];

function isGpuKind(word: string): word is GpuKind {
  return (GPU_KINDS as readonly string[]).includes(word);
}

const EXPECTED = 'expected all, gpu, gpu:N, cuda:N, webgpu:N or cpu (indexes may continue: gpu:0,1)';

/**
 * Parses `quiver worker --devices …` into one request per worker. Tokens are comma-separated; a bare index
 * continues the kind before it (`gpu:0,1` = `gpu:0,gpu:1`, `cuda:1,2`). `all` and `gpu` (also `cuda`,
 * `webgpu` without an index) expand to every GPU of the host. Without a GPU, `all` becomes one `cpu`
 * request carrying a warning, while `gpu`, `cuda`, `webgpu` and any indexed GPU are errors: asking for a
 * GPU by name on a host without one is a deployment mistake to stop at, not to paper over.
 *
 * @param host.gpuCount GPUs on this host ({@link detectGpuCount}); every index must be below it.
 * @throws DeviceListError naming the offending token (unknown word, bad index, duplicate device).
 */
export function parseDeviceList(text: string, host: { gpuCount: number }): DeviceRequest[] {
  const requests: DeviceRequest[] = [];
  const seen = new Map<string, string>();
  const add = (request: DeviceRequest, token: string): void => {
    const key = request.kind === 'cpu' ? 'cpu' : `GPU ${request.index}`;
    const earlier = seen.get(key);
    if (earlier !== undefined) {
      throw new DeviceListError(token, `${key} is already listed (by ${JSON.stringify(earlier)})`);
    }
    seen.set(key, token);
    requests.push(request);
  };
  const gpuIndex = (digits: string, token: string): number => {
    if (!/^\d+$/.test(digits))
      throw new DeviceListError(token, `"${digits}" is not a GPU index; ${EXPECTED}`);
    const index = Number(digits);
    if (index >= host.gpuCount) {
      throw new DeviceListError(token, `GPU index ${index} is out of range: ${describeGpus(host.gpuCount)}`);
    }
    return index;
  };

  const tokens = text.split(',').map((t) => t.trim());
  // The kind a bare index continues; only an indexed token (`gpu:0`) opens such a run.
  let continuing: GpuKind | undefined;
  for (const token of tokens) {
    const word = token.toLowerCase();
    if (word === '') throw new DeviceListError(token, `empty device in ${JSON.stringify(text)}; ${EXPECTED}`);
    if (/^\d+$/.test(word)) {
      if (continuing === undefined) {
        throw new DeviceListError(token, 'a bare index must follow gpu:N, cuda:N or webgpu:N');
      }
      add({ kind: continuing, index: gpuIndex(word, token) }, token);
      continue;
    }
    continuing = undefined;
    const colon = word.indexOf(':');
    const kind = colon === -1 ? word : word.slice(0, colon);
    if (colon !== -1) {
      if (kind === 'cpu' || kind === 'all') throw new DeviceListError(token, `${kind} takes no index`);
      if (!isGpuKind(kind)) throw new DeviceListError(token, `unknown device "${kind}"; ${EXPECTED}`);
      add({ kind, index: gpuIndex(word.slice(colon + 1), token) }, token);
      continuing = kind;
    } else if (kind === 'cpu') {
      add({ kind: 'cpu', index: 0 }, token);
    } else if (kind === 'all' && host.gpuCount === 0) {
      const warning =
        '--devices all: no GPU found on this host (no NVIDIA GPU under /proc/driver/nvidia or /dev, no /dev/dri ' +
        'render node); running one CPU worker';
      add({ kind: 'cpu', index: 0, warning }, token);
    } else if (kind === 'all' || isGpuKind(kind)) {
      if (host.gpuCount === 0) {
        throw new DeviceListError(token, `no GPU found on this host; use "cpu" or "all" to run on the CPU`);
      }
      const expanded = kind === 'all' ? 'gpu' : kind;
      for (let index = 0; index < host.gpuCount; index++) add({ kind: expanded, index }, token);
    } else {
      throw new DeviceListError(token, `unknown device; ${EXPECTED}`);
    }
  }
  return requests;
}

function describeGpus(count: number): string {
  return count === 0 ? 'this host has no GPU' : `this host has ${count} GPU(s), 0 to ${count - 1}`;
}

/** What {@link detectGpuCount} reads; injected so tests describe a host without having one. */
export interface GpuCountSources {
  /** Names in a directory, or `[]` where it does not exist. */
  readdir(path: string): string[];
  env: NodeJS.ProcessEnv;
}

const systemSources: GpuCountSources = {
  readdir: (path) => {
    try {
      return readdirSync(path);
    } catch {
      return [];
    }
  },
  env: process.env,
};

/**
 * GPUs this process may use. NVIDIA GPUs come from `/proc/driver/nvidia/gpus` (one folder per GPU), else
 * the `/dev/nvidiaN` nodes; `CUDA_VISIBLE_DEVICES`, when set, narrows them to its list, and indexes are
 * then ordinals within it, as CUDA numbers them. Without NVIDIA GPUs, each `/dev/dri/renderD*` node counts
 * (AMD or Intel GPUs that WebGPU can reach through Vulkan), one at most in a process bound to its GPU
 * ({@link isBound}). Reads no driver library, so it is cheap and safe on any host.
 */
export function detectGpuCount(sources: GpuCountSources = systemSources): number {
  const nvidia = Math.max(
    sources.readdir('/proc/driver/nvidia/gpus').length,
    sources.readdir('/dev').filter((name) => /^nvidia\d+$/.test(name)).length,
  );
  if (nvidia > 0) {
    const visible = sources.env.CUDA_VISIBLE_DEVICES;
    if (visible === undefined) return nvidia;
    return visibleEntries(visible, nvidia).length;
  }
  const render = sources.readdir('/dev/dri').filter((name) => /^renderD\d+$/.test(name)).length;
  return isBound(sources.env) ? Math.min(render, 1) : render;
}

/**
 * CUDA's reading of `CUDA_VISIBLE_DEVICES`: its entries up to the first invalid one (`-1` hides every GPU),
 * at most `count` (ids beyond the GPUs are ignored too).
 */
export function visibleEntries(visible: string, count: number): string[] {
  const listed = visible
    .split(',')
    .map((id) => id.trim())
    .filter((id) => id !== '');
  const invalid = listed.findIndex((id) => !/^(\d+|GPU-[\w-]+|MIG-[\w-/]+)$/.test(id));
  return listed.slice(0, Math.min(invalid === -1 ? listed.length : invalid, count));
}

/**
 * Whether this environment shows Vulkan one GPU only: Mesa's device-select layer told to expose the GPU
 * `DRI_PRIME` names and nothing else (how `gpu-binding.ts` binds a device process to its GPU).
 */
export function isBound(env: NodeJS.ProcessEnv): boolean {
  return env.MESA_VK_DEVICE_SELECT_FORCE_DEFAULT_DEVICE === '1' && /^pci-/.test(env.DRI_PRIME ?? '');
}
