import { describe, expect, it } from 'vitest';
import {
  diagnoseVulkan,
  gpuBindingEnv,
  hasDeviceSelectLayer,
  listHostGpus,
  needsDeviceProcesses,
  planDeviceProcesses,
  type HostGpu,
  type HostGpuSources,
} from '../../../services/scoring/gpu-binding.js';
import { detectGpuCount, parseDeviceList } from '../../../services/scoring/devices.js';

/** A host described by its folders, file texts, links and other existing paths. */
function host(
  shape: {
    dirs?: Record<string, string[]>;
    files?: Record<string, string>;
    links?: Record<string, string>;
    paths?: string[];
  },
  env: NodeJS.ProcessEnv = {},
): HostGpuSources {
  const { dirs = {}, files = {}, links = {}, paths = [] } = shape;
  return {
    readdir: (path) => dirs[path] ?? [],
    readFile: (path) => files[path],
    readlink: (path) => links[path],
    exists: (path) => paths.includes(path) || path in files,
    env,
  };
}

const information = (uuid: string) =>
  `Model: \t\t NVIDIA H200\nIRQ:   \t\t 156\nGPU UUID: \t GPU-${uuid}\nVideo BIOS: \t 96.00.99.00.01\n`;

/** Two NVIDIA GPUs, listed by the driver out of bus order. */
const nvidia = {
  dirs: {
    '/proc/driver/nvidia/gpus': ['0000:b1:00.0', '0000:3b:00.0'],
    '/dev': ['nvidia0', 'nvidia1', 'nvidiactl'],
  },
  files: {
    '/proc/driver/nvidia/gpus/0000:3b:00.0/information': information('3b3b3b3b-aaaa'),
    '/proc/driver/nvidia/gpus/0000:b1:00.0/information': information('b1b1b1b1-bbbb'),
  },
};

describe('listHostGpus', () => {
  it('lists NVIDIA GPUs in PCI bus order with their UUIDs', () => {
    expect(listHostGpus(host(nvidia))).toEqual([
      { index: 0, pciBusId: '0000:3b:00.0', cudaId: 'GPU-3b3b3b3b-aaaa' },
      { index: 1, pciBusId: '0000:b1:00.0', cudaId: 'GPU-b1b1b1b1-bbbb' },
    ]);
  });

  it('numbers GPUs as detectGpuCount counts them', () => {
    for (const env of [{}, { CUDA_VISIBLE_DEVICES: '1' }, { CUDA_VISIBLE_DEVICES: '' }]) {
      expect(listHostGpus(host(nvidia, env))).toHaveLength(detectGpuCount(host(nvidia, env)));
    }
  });

  it('narrows and orders them by CUDA_VISIBLE_DEVICES, by index or UUID prefix, keeping what CUDA was told', () => {
    expect(listHostGpus(host(nvidia, { CUDA_VISIBLE_DEVICES: '1,0' }))).toEqual([
      { index: 0, pciBusId: '0000:b1:00.0', cudaId: '1' },
      { index: 1, pciBusId: '0000:3b:00.0', cudaId: '0' },
    ]);
    expect(listHostGpus(host(nvidia, { CUDA_VISIBLE_DEVICES: 'GPU-b1b1' }))).toEqual([
      { index: 0, pciBusId: '0000:b1:00.0', cudaId: 'GPU-b1b1' },
    ]);
    expect(listHostGpus(host(nvidia, { CUDA_VISIBLE_DEVICES: '-1' }))).toEqual([]);
  });

  it('falls back to /dev/nvidiaN by index when the driver folder is hidden', () => {
    expect(listHostGpus(host({ dirs: { '/dev': ['nvidia0', 'nvidia1', 'nvidia-uvm'] } }))).toEqual([
      { index: 0, cudaId: '0' },
      { index: 1, cudaId: '1' },
    ]);
  });

  it('lists render nodes in number order, with the bus id their sysfs link names', () => {
    const dri = {
      dirs: { '/dev/dri': ['renderD129', 'card0', 'renderD128', 'card1'] },
      links: {
        '/sys/class/drm/renderD128/device': '../../../0000:03:00.0',
        '/sys/class/drm/renderD129/device': '../../../virtio0',
      },
    };
    expect(listHostGpus(host(dri))).toEqual([{ index: 0, pciBusId: '0000:03:00.0' }, { index: 1 }]);
    const bound = { DRI_PRIME: 'pci-0000_03_00_0', MESA_VK_DEVICE_SELECT_FORCE_DEFAULT_DEVICE: '1' };
    expect(listHostGpus(host(dri, bound))).toHaveLength(1);
    expect(listHostGpus(host({}))).toEqual([]);
  });
});

describe('gpuBindingEnv', () => {
  it('shows CUDA the GPU by its id in bus order, and Vulkan by its bus address', () => {
    expect(gpuBindingEnv({ index: 1, pciBusId: '0000:B1:00.0', cudaId: 'GPU-b1b1b1b1-bbbb' })).toEqual({
      CUDA_DEVICE_ORDER: 'PCI_BUS_ID',
      CUDA_VISIBLE_DEVICES: 'GPU-b1b1b1b1-bbbb',
      DRI_PRIME: 'pci-0000_b1_00_0',
      MESA_VK_DEVICE_SELECT_FORCE_DEFAULT_DEVICE: '1',
    });
    expect(gpuBindingEnv({ index: 0, pciBusId: '0000:03:00.0' })).toEqual({
      DRI_PRIME: 'pci-0000_03_00_0',
      MESA_VK_DEVICE_SELECT_FORCE_DEFAULT_DEVICE: '1',
    });
    expect(gpuBindingEnv({ index: 0 })).toEqual({});
  });

  it('leaves a bound child exactly one GPU, its GPU 0', () => {
    const [, second] = listHostGpus(host(nvidia));
    const child = host(nvidia, gpuBindingEnv(second!));
    expect(detectGpuCount(child)).toBe(1);
    expect(listHostGpus(child)).toEqual([
      { index: 0, pciBusId: '0000:b1:00.0', cudaId: 'GPU-b1b1b1b1-bbbb' },
    ]);
  });
});

describe('planDeviceProcesses', () => {
  const gpus: HostGpu[] = [
    { index: 0, pciBusId: '0000:3b:00.0', cudaId: 'GPU-a' },
    { index: 1, pciBusId: '0000:b1:00.0', cudaId: 'GPU-b' },
  ];

  it('binds each GPU process to its GPU, which it asks for as GPU 0; the CPU process is left as it is', () => {
    const plan = planDeviceProcesses(parseDeviceList('cpu,cuda:1,gpu:0', { gpuCount: 2 }), gpus);
    expect(
      plan.map(({ label, device, env }) => ({ label, device, visible: env.CUDA_VISIBLE_DEVICES })),
    ).toEqual([
      { label: 'cpu', device: { kind: 'cpu', index: 0 }, visible: undefined },
      { label: 'cuda:1', device: { kind: 'cuda', index: 0 }, visible: 'GPU-b' },
      { label: 'gpu:0', device: { kind: 'gpu', index: 0 }, visible: 'GPU-a' },
    ]);
    expect(plan[0]!.env).toEqual({});
    expect(plan[1]!.env.DRI_PRIME).toBe('pci-0000_b1_00_0');
    expect(plan[1]!.gpu).toBe(gpus[1]);
  });

  it('refuses a GPU the host does not list', () => {
    expect(() => planDeviceProcesses([{ kind: 'webgpu', index: 2 }], gpus)).toThrow(
      /webgpu:2: this host lists 2 GPU\(s\), none at index 2/,
    );
  });
});

describe('needsDeviceProcesses', () => {
  it('runs child processes for several devices, or for one GPU among several', () => {
    expect(needsDeviceProcesses([{ kind: 'cpu', index: 0 }], 4)).toBe(false);
    expect(needsDeviceProcesses([{ kind: 'gpu', index: 0 }], 1)).toBe(false);
    expect(needsDeviceProcesses([{ kind: 'gpu', index: 0 }], 2)).toBe(true);
    expect(
      needsDeviceProcesses(
        [
          { kind: 'cpu', index: 0 },
          { kind: 'cpu', index: 1 },
        ],
        0,
      ),
    ).toBe(true);
  });
});

describe('diagnoseVulkan', () => {
  const lib = '/usr/lib/x86_64-linux-gnu';
  const complete = {
    dirs: { ...nvidia.dirs, '/usr/share/vulkan/icd.d': ['nvidia_icd.json'] },
    paths: [`${lib}/libvulkan.so.1`, `${lib}/libGLdispatch.so.0`],
  };

  it('finds nothing missing on a host with the loader, the NVIDIA manifest and glvnd', () => {
    expect(diagnoseVulkan(host(complete))).toBeUndefined();
  });

  it('says when the process sees no GPU at all', () => {
    expect(diagnoseVulkan(host({ paths: complete.paths }))).toMatch(/no GPU is visible to this process/);
  });

  it('names each missing piece with what to install', () => {
    const reason = diagnoseVulkan(host({ dirs: nvidia.dirs }));
    expect(reason).toContain('install libvulkan1');
    expect(reason).toContain('NVIDIA_DRIVER_CAPABILITIES=compute,utility,graphics');
    expect(reason).toContain('install libglvnd0');
    expect(
      diagnoseVulkan(
        host({ ...complete, dirs: { ...complete.dirs, '/usr/share/vulkan/icd.d': ['lvp_icd.json'] } }),
      ),
    ).toMatch(/no NVIDIA Vulkan driver manifest/);
  });

  it('reads the loader variables and LD_LIBRARY_PATH as the loader does', () => {
    const elsewhere = host(
      {
        dirs: nvidia.dirs,
        paths: ['/opt/vk/libvulkan.so.1', `${lib}/libGLdispatch.so.0`, '/opt/vk/nvidia_icd.json'],
      },
      { LD_LIBRARY_PATH: '/opt/vk', VK_DRIVER_FILES: '/opt/vk/nvidia_icd.json' },
    );
    expect(diagnoseVulkan(elsewhere)).toBeUndefined();
  });

  it('asks a render-node host for any driver manifest, and no glvnd', () => {
    const dri = { '/dev/dri': ['renderD128'] };
    expect(diagnoseVulkan(host({ dirs: dri, paths: [`${lib}/libvulkan.so.1`] }))).toMatch(
      /^no Vulkan driver manifest \(ICD\)/,
    );
    expect(
      diagnoseVulkan(
        host({
          dirs: { ...dri, '/usr/share/vulkan/icd.d': ['radeon_icd.json'] },
          paths: [`${lib}/libvulkan.so.1`],
        }),
      ),
    ).toBeUndefined();
  });

  it('reads the real host without throwing', () => {
    expect(() => diagnoseVulkan()).not.toThrow();
  });
});

describe('hasDeviceSelectLayer', () => {
  it("finds Mesa's device-select layer among the implicit layers", () => {
    expect(
      hasDeviceSelectLayer(
        host({ dirs: { '/usr/share/vulkan/implicit_layer.d': ['VkLayer_MESA_device_select.json'] } }),
      ),
    ).toBe(true);
    expect(
      hasDeviceSelectLayer(host({ dirs: { '/usr/share/vulkan/implicit_layer.d': ['nvidia_layers.json'] } })),
    ).toBe(false);
  });
});
