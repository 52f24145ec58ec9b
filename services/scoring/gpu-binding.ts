import { existsSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { delimiter } from 'node:path';
import {
  type DeviceRequest,
  type GpuCountSources,
  formatDeviceRequest,
  isBound,
  visibleEntries,
} from './devices.js';

/**
 * Binding one worker process to one GPU, for every provider.
 *
 * onnxruntime-node cannot pick a WebGPU adapter: its WebGPU context asks Dawn for an adapter by backend
 * type and power preference only (its `deviceId` option is a context-sharing slot, not an adapter), so a
 * process gets Dawn's default adapter. What a process sees is decided by its environment instead, before
 * any driver loads:
 * - CUDA: `CUDA_VISIBLE_DEVICES` names the one GPU (its UUID, else its index in PCI bus order, with
 *   `CUDA_DEVICE_ORDER=PCI_BUS_ID` so indexes mean the same to CUDA as to this host's listing).
 * - Vulkan (WebGPU): Mesa's device-select layer, an implicit Vulkan layer that sits in front of every
 *   driver (NVIDIA's included), puts the GPU at `DRI_PRIME=pci-<domain>_<bus>_<slot>_<function>` first and,
 *   with `MESA_VK_DEVICE_SELECT_FORCE_DEFAULT_DEVICE=1`, exposes only it. The loader's own
 *   `VK_LOADER_DEVICE_ID_FILTER` filters by PCI device id, which identical GPUs share, so it cannot.
 * The child process then sees exactly one GPU, as index 0.
 */

/** One GPU of this host, in the order `--devices` numbers them. */
export interface HostGpu {
  /** The index `--devices gpu:N` uses. */
  index: number;
  /** `0000:3b:00.0`, where the host tells. */
  pciBusId?: string;
  /** What the child's `CUDA_VISIBLE_DEVICES` names (NVIDIA only): a UUID, or an index in PCI bus order. */
  cudaId?: string;
}

/** What {@link listHostGpus} and {@link diagnoseVulkan} read; injected so tests describe any host. */
export interface HostGpuSources extends GpuCountSources {
  /** A file's text, or undefined where it cannot be read. */
  readFile(path: string): string | undefined;
  /** A symbolic link's target, or undefined. */
  readlink(path: string): string | undefined;
  exists(path: string): boolean;
}

const attempt = <T>(read: () => T): T | undefined => {
  try {
    return read();
  } catch {
    return undefined;
  }
};

export const systemGpuSources: HostGpuSources = {
  readdir: (path) => attempt(() => readdirSync(path)) ?? [],
  readFile: (path) => attempt(() => readFileSync(path, 'utf8')),
  readlink: (path) => attempt(() => readlinkSync(path)),
  exists: existsSync,
  env: process.env,
};

const PCI_BUS_ID = /^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/i;

/**
 * This process's GPUs, numbered as {@link detectGpuCount} counts them. NVIDIA GPUs are the folders of
 * `/proc/driver/nvidia/gpus` (named by PCI bus id; UUIDs from their `information`) in bus order, else the
 * `/dev/nvidiaN` nodes; `CUDA_VISIBLE_DEVICES` narrows and orders them. Other GPUs are the
 * `/dev/dri/renderD*` nodes, with the bus id their `/sys/class/drm` link names.
 */
export function listHostGpus(sources: HostGpuSources = systemGpuSources): HostGpu[] {
  const busIds = sources
    .readdir('/proc/driver/nvidia/gpus')
    .filter((name) => PCI_BUS_ID.test(name))
    .sort();
  const nodes = sources.readdir('/dev').filter((name) => /^nvidia\d+$/.test(name));
  if (busIds.length > 0 || nodes.length > 0) {
    const found: { pciBusId?: string; uuid?: string }[] =
      busIds.length > 0
        ? busIds.map((pciBusId) => ({ pciBusId, uuid: uuidOf(sources, pciBusId) }))
        : nodes.map(() => ({}));
    const all = found.map((gpu, order) => ({ ...gpu, order }));
    const visible = sources.env.CUDA_VISIBLE_DEVICES;
    const chosen =
      visible === undefined
        ? all.map((gpu) => ({ gpu, cudaId: gpu.uuid ?? String(gpu.order) }))
        : visibleEntries(visible, all.length).map((entry) => ({
            gpu: /^\d+$/.test(entry)
              ? all[Number(entry)]
              : all.find((gpu) => gpu.uuid !== undefined && gpu.uuid.startsWith(entry)),
            cudaId: entry,
          }));
    return chosen.map(({ gpu, cudaId }, index) => ({
      index,
      ...(gpu?.pciBusId !== undefined && { pciBusId: gpu.pciBusId }),
      cudaId,
    }));
  }
  const render = sources
    .readdir('/dev/dri')
    .filter((name) => /^renderD\d+$/.test(name))
    .sort((a, b) => Number(a.slice(7)) - Number(b.slice(7)));
  return (isBound(sources.env) ? render.slice(0, 1) : render).map((name, index) => {
    const target = sources.readlink(`/sys/class/drm/${name}/device`);
    const pciBusId = target?.split('/').pop();
    return { index, ...(pciBusId !== undefined && PCI_BUS_ID.test(pciBusId) && { pciBusId }) };
  });
}

function uuidOf(sources: HostGpuSources, pciBusId: string): string | undefined {
  const information = sources.readFile(`/proc/driver/nvidia/gpus/${pciBusId}/information`);
  return information?.match(/^GPU UUID:\s*(GPU-[\w-]+)\s*$/m)?.[1];
}

/** The environment that shows a child process only `gpu`, to CUDA and to Vulkan alike. */
export function gpuBindingEnv(gpu: HostGpu): Record<string, string> {
  return {
    ...(gpu.cudaId !== undefined && {
      CUDA_DEVICE_ORDER: 'PCI_BUS_ID',
      CUDA_VISIBLE_DEVICES: gpu.cudaId,
    }),
    ...(gpu.pciBusId !== undefined && {
      DRI_PRIME: `pci-${gpu.pciBusId.toLowerCase().replace(/[:.]/g, '_')}`,
      MESA_VK_DEVICE_SELECT_FORCE_DEFAULT_DEVICE: '1',
    }),
  };
}

/** One device process of `quiver worker --devices …`. */
export interface DeviceProcess {
  /** The device as asked (`gpu:3`): for logs. */
  label: string;
  /** The device as the child asks for it: a bound GPU is the child's GPU 0. */
  device: DeviceRequest;
  /** Added to the child's environment. */
  env: Record<string, string>;
  /** The host GPU it is bound to. */
  gpu?: HostGpu;
}

/** One process per device, each GPU process bound to its own GPU ({@link gpuBindingEnv}). */
export function planDeviceProcesses(
  devices: readonly DeviceRequest[],
  gpus: readonly HostGpu[],
): DeviceProcess[] {
  return devices.map((device) => {
    const label = formatDeviceRequest(device);
    if (device.kind === 'cpu') return { label, device, env: {} };
    const gpu = gpus[device.index];
    if (gpu === undefined) {
      throw new RangeError(`${label}: this host lists ${gpus.length} GPU(s), none at index ${device.index}`);
    }
    return { label, device: { kind: device.kind, index: 0 }, env: gpuBindingEnv(gpu), gpu };
  });
}

/**
 * Whether a worker asked for `devices` must run them as bound child processes: more than one device, or
 * one GPU on a host whose process sees several (Dawn would take its default adapter, CUDA its device 0).
 */
export function needsDeviceProcesses(devices: readonly DeviceRequest[], gpuCount: number): boolean {
  return devices.length > 1 || (devices.some((d) => d.kind !== 'cpu') && gpuCount > 1);
}

const LIBRARY_DIRS = [
  '/usr/lib/x86_64-linux-gnu',
  '/usr/lib/aarch64-linux-gnu',
  '/usr/lib64',
  '/usr/lib',
  '/lib/x86_64-linux-gnu',
  '/lib64',
  '/usr/local/lib',
];
const ICD_DIRS = ['/etc/vulkan/icd.d', '/usr/local/share/vulkan/icd.d', '/usr/share/vulkan/icd.d'];
const LAYER_DIRS = [
  '/etc/vulkan/implicit_layer.d',
  '/usr/local/share/vulkan/implicit_layer.d',
  '/usr/share/vulkan/implicit_layer.d',
];

function findLibrary(sources: HostGpuSources, name: string): boolean {
  const fromEnv = (sources.env.LD_LIBRARY_PATH ?? '').split(delimiter).filter((d) => d !== '');
  return [...fromEnv, ...LIBRARY_DIRS].some((dir) => sources.exists(`${dir}/${name}`));
}

/** The Vulkan driver manifests the loader would read (its own variables first, as the loader does). */
function driverManifests(sources: HostGpuSources): string[] {
  const named = sources.env.VK_DRIVER_FILES ?? sources.env.VK_ICD_FILENAMES;
  if (named !== undefined) return named.split(delimiter).filter((f) => f !== '' && sources.exists(f));
  return ICD_DIRS.flatMap((dir) => sources.readdir(dir).map((name) => `${dir}/${name}`));
}

/**
 * Why WebGPU would find no adapter here, with what to install; undefined when the loader, a driver
 * manifest and a GPU node are all present (the failure is then the driver's own, in ONNX Runtime's text).
 */
export function diagnoseVulkan(sources: HostGpuSources = systemGpuSources): string | undefined {
  const nvidia =
    sources.readdir('/proc/driver/nvidia/gpus').length > 0 ||
    sources.readdir('/dev').some((name) => /^nvidia\d+$/.test(name));
  const render = sources.readdir('/dev/dri').some((name) => /^renderD\d+$/.test(name));
  if (!nvidia && !render) {
    return (
      'no GPU is visible to this process (no /dev/nvidiaN, no /dev/dri/renderD*): give the container or VM ' +
      'a GPU (Kubernetes: resources.limits nvidia.com/gpu; Docker: --gpus)'
    );
  }
  const missing: string[] = [];
  if (!findLibrary(sources, 'libvulkan.so.1'))
    missing.push('no Vulkan loader (libvulkan.so.1): install libvulkan1');
  const manifests = driverManifests(sources);
  if (nvidia && !manifests.some((path) => /nvidia/i.test(path.split('/').pop() ?? ''))) {
    missing.push(
      'no NVIDIA Vulkan driver manifest (nvidia_icd.json in /etc/vulkan/icd.d or /usr/share/vulkan/icd.d): ' +
        'install the driver with its Vulkan ICD, or in a container give the NVIDIA runtime the graphics ' +
        'capability (NVIDIA_DRIVER_CAPABILITIES=compute,utility,graphics)',
    );
  } else if (manifests.length === 0) {
    missing.push(
      'no Vulkan driver manifest (ICD) in /usr/share/vulkan/icd.d: install the Vulkan driver of the GPU vendor',
    );
  }
  if (nvidia && !findLibrary(sources, 'libGLdispatch.so.0')) {
    missing.push("no glvnd (libGLdispatch.so.0), which NVIDIA's Vulkan driver loads: install libglvnd0");
  }
  return missing.length === 0 ? undefined : missing.join('; ');
}

/**
 * Whether Mesa's device-select layer is installed: without it, {@link gpuBindingEnv} binds CUDA only and
 * every WebGPU process of a multi-GPU host lands on the default adapter.
 */
export function hasDeviceSelectLayer(sources: HostGpuSources = systemGpuSources): boolean {
  return LAYER_DIRS.some((dir) => sources.readdir(dir).some((name) => /device_select/i.test(name)));
}
