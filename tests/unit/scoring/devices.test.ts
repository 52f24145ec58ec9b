import { describe, expect, it } from 'vitest';
import {
  detectGpuCount,
  formatDeviceRequest,
  parseDeviceList,
  type GpuCountSources,
} from '../../../services/scoring/devices.js';
import { DeviceListError } from '../../../services/scoring/errors/device-list-error.js';

const labels = (text: string, gpuCount: number) =>
  parseDeviceList(text, { gpuCount }).map((request) => formatDeviceRequest(request));

function parseError(text: string, gpuCount: number): DeviceListError {
  try {
    parseDeviceList(text, { gpuCount });
  } catch (error) {
    expect(error).toBeInstanceOf(DeviceListError);
    return error as DeviceListError;
  }
  throw new Error(`expected ${JSON.stringify(text)} to be refused`);
}

describe('parseDeviceList', () => {
  it('expands all and gpu to every GPU found', () => {
    expect(labels('all', 3)).toEqual(['gpu:0', 'gpu:1', 'gpu:2']);
    expect(labels('gpu', 2)).toEqual(['gpu:0', 'gpu:1']);
    expect(labels('webgpu', 2)).toEqual(['webgpu:0', 'webgpu:1']);
    expect(labels('cuda', 1)).toEqual(['cuda:0']);
  });

  it('reads indexed devices, bare indexes continuing the kind before them', () => {
    expect(labels('gpu:0,1', 2)).toEqual(['gpu:0', 'gpu:1']);
    expect(labels('cuda:1,cuda:2', 3)).toEqual(['cuda:1', 'cuda:2']);
    expect(labels('cuda:0,2', 3)).toEqual(['cuda:0', 'cuda:2']);
    expect(labels('webgpu:0', 1)).toEqual(['webgpu:0']);
    expect(labels('cpu,webgpu:0', 1)).toEqual(['cpu', 'webgpu:0']);
    expect(labels(' CPU , GPU:0 ', 1)).toEqual(['cpu', 'gpu:0']);
    expect(parseDeviceList('gpu:1', { gpuCount: 2 })).toEqual([{ kind: 'gpu', index: 1 }]);
  });

  it('runs cpu anywhere, without a warning', () => {
    expect(parseDeviceList('cpu', { gpuCount: 0 })).toEqual([{ kind: 'cpu', index: 0 }]);
  });

  it('turns all into one CPU request with one warning on a host without a GPU', () => {
    const requests = parseDeviceList('all', { gpuCount: 0 });
    expect(requests).toHaveLength(1);
    expect(requests[0]).toMatchObject({ kind: 'cpu', index: 0 });
    expect(requests[0]?.warning).toMatch(/no GPU found.*CPU/);
  });

  it('refuses gpu on a host without a GPU rather than quietly using the CPU', () => {
    const error = parseError('gpu', 0);
    expect(error.code).toBe('DEVICE_LIST_INVALID');
    expect(error.token).toBe('gpu');
    expect(error.message).toMatch(/no GPU found/);
    expect(parseError('cuda', 0).token).toBe('cuda');
  });

  it.each([
    ['tpu', 2, 'tpu', /unknown device/],
    ['gpu:x', 2, 'gpu:x', /"x" is not a GPU index/],
    ['gpu:-1', 2, 'gpu:-1', /not a GPU index/],
    ['gpu:2', 2, 'gpu:2', /out of range: this host has 2 GPU\(s\), 0 to 1/],
    ['cuda:0', 0, 'cuda:0', /out of range: this host has no GPU/],
    ['gpu:0,5', 2, '5', /out of range/],
    ['cpu:0', 2, 'cpu:0', /cpu takes no index/],
    ['0', 2, '0', /bare index must follow/],
    ['cpu,1', 2, '1', /bare index must follow/],
    ['gpu:0,,1', 2, '', /empty device/],
    ['', 2, '', /empty device/],
    ['gpu:0,cuda:0', 2, 'cuda:0', /GPU 0 is already listed \(by "gpu:0"\)/],
    ['cpu,cpu', 2, 'cpu', /cpu is already listed/],
    ['all,gpu:1', 2, 'gpu:1', /GPU 1 is already listed \(by "all"\)/],
    ['foo:1', 2, 'foo:1', /unknown device "foo"/],
  ])('refuses %j (GPUs: %d), naming the token', (text, gpuCount, token, message) => {
    const error = parseError(text, gpuCount);
    expect(error.token).toBe(token);
    expect(error.message).toMatch(message);
    expect(error.message).toContain(JSON.stringify(token));
  });
});

function host(files: Record<string, string[]>, env: NodeJS.ProcessEnv = {}): GpuCountSources {
  return { readdir: (path) => files[path] ?? [], env };
}

describe('detectGpuCount', () => {
  it('counts NVIDIA GPUs from the driver, else from /dev/nvidiaN', () => {
    expect(detectGpuCount(host({ '/proc/driver/nvidia/gpus': ['0000:17:00.0', '0000:65:00.0'] }))).toBe(2);
    expect(detectGpuCount(host({ '/dev': ['nvidia0', 'nvidia1', 'nvidiactl', 'nvidia-uvm', 'null'] }))).toBe(
      2,
    );
  });

  it('narrows NVIDIA GPUs to CUDA_VISIBLE_DEVICES', () => {
    const gpus = { '/proc/driver/nvidia/gpus': ['a', 'b', 'c', 'd'] };
    expect(detectGpuCount(host(gpus, { CUDA_VISIBLE_DEVICES: '2,3' }))).toBe(2);
    expect(detectGpuCount(host(gpus, { CUDA_VISIBLE_DEVICES: '' }))).toBe(0);
    expect(detectGpuCount(host(gpus, { CUDA_VISIBLE_DEVICES: '-1' }))).toBe(0);
    expect(detectGpuCount(host(gpus, { CUDA_VISIBLE_DEVICES: '0,-1,1' }))).toBe(1);
    expect(detectGpuCount(host(gpus, { CUDA_VISIBLE_DEVICES: 'GPU-8a1b-22' }))).toBe(1);
  });

  it('falls back to DRI render nodes, and finds nothing on a bare host', () => {
    expect(detectGpuCount(host({ '/dev/dri': ['card0', 'renderD128', 'by-path'] }))).toBe(1);
    expect(detectGpuCount(host({}))).toBe(0);
  });

  it('counts one render node in a process bound to its GPU by the device-select layer', () => {
    const nodes = { '/dev/dri': ['renderD128', 'renderD129', 'renderD130'] };
    expect(detectGpuCount(host(nodes))).toBe(3);
    const bound = { DRI_PRIME: 'pci-0000_3b_00_0', MESA_VK_DEVICE_SELECT_FORCE_DEFAULT_DEVICE: '1' };
    expect(detectGpuCount(host(nodes, bound))).toBe(1);
    // DRI_PRIME alone only reorders: every adapter stays visible.
    expect(detectGpuCount(host(nodes, { DRI_PRIME: 'pci-0000_3b_00_0' }))).toBe(3);
  });

  it('reads the real host without throwing', () => {
    expect(detectGpuCount()).toBeGreaterThanOrEqual(0);
  });
});
