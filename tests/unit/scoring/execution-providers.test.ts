import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import type { DeviceRequest } from '../../../services/scoring/devices.js';
import { DeviceUnavailableError } from '../../../services/scoring/errors/device-unavailable-error.js';
import {
  makeOrtProbes,
  resolveDevice,
  sessionOptionsFor,
  type OrtForProbes,
  type ProbeResult,
  type ProviderProbes,
} from '../../../services/scoring/execution-providers.js';

const yes: ProbeResult = { available: true };
const no = (reason: string): ProbeResult => ({ available: false, reason });

/** Probes answering from a table, recording what was asked. */
function probes(answers: { gpuCount: number; cuda?: ProbeResult; webgpu?: ProbeResult }) {
  const asked: string[] = [];
  const fake: ProviderProbes = {
    gpuCount: answers.gpuCount,
    cuda: (index) => {
      asked.push(`cuda:${index}`);
      return Promise.resolve(answers.cuda ?? no('CUDA missing'));
    },
    webgpu: (index) => {
      asked.push(`webgpu:${index}`);
      return Promise.resolve(answers.webgpu ?? no('no Vulkan adapter'));
    },
  };
  return { fake, asked };
}

const reasonOf = (probe: ProbeResult) => (probe.available ? 'available' : probe.reason);

const gpu = (index: number): DeviceRequest => ({ kind: 'gpu', index });

async function unavailable(request: DeviceRequest, fake: ProviderProbes): Promise<DeviceUnavailableError> {
  const error: unknown = await resolveDevice(request, fake).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DeviceUnavailableError);
  return error as DeviceUnavailableError;
}

/** Threads sleep between runs so the scoring process's main thread keeps a core (see sessionOptionsFor). */
const noSpinning = { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } };

describe('resolveDevice', () => {
  it('prefers CUDA on a GPU request when its provider loads', async () => {
    const { fake, asked } = probes({ gpuCount: 2, cuda: yes, webgpu: yes });
    const resolved = await resolveDevice(gpu(1), fake, { intraOpThreads: 4 });
    expect(resolved).toEqual({
      device: { label: 'cuda:1', provider: 'cuda', index: 1 },
      sessionOptions: {
        executionProviders: [{ name: 'cuda', deviceId: 1 }],
        intraOpNumThreads: 4,
        interOpNumThreads: 1,
        graphOptimizationLevel: 'all',
        extra: noSpinning,
      },
    });
    expect(asked).toEqual(['cuda:1']);
  });

  it('takes WebGPU when only WebGPU loads, without a warning', async () => {
    const { fake, asked } = probes({ gpuCount: 1, webgpu: yes });
    const resolved = await resolveDevice(gpu(0), fake);
    expect(resolved.device).toEqual({ label: 'webgpu:0', provider: 'webgpu', index: 0 });
    expect(resolved.sessionOptions.executionProviders).toEqual([{ name: 'webgpu' }]);
    expect(resolved.warning).toBeUndefined();
    expect(asked).toEqual(['cuda:0', 'webgpu:0']);
  });

  it('falls back to the CPU with one warning saying why and how to get a GPU provider', async () => {
    const { fake } = probes({
      gpuCount: 1,
      cuda: no('the CUDA provider is not installed'),
      webgpu: no('its provider failed to start (No supported adapters)'),
    });
    const resolved = await resolveDevice(gpu(0), fake, { intraOpThreads: 3 });
    expect(resolved.device).toEqual({ label: 'cpu', provider: 'cpu', index: 0 });
    expect(resolved.sessionOptions).toEqual({
      executionProviders: ['cpu'],
      intraOpNumThreads: 3,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
      extra: noSpinning,
    });
    const warning = resolved.warning ?? '';
    expect(warning).toMatch(/^gpu:0: no GPU provider loads, scoring on the CPU/);
    expect(warning).toContain('the CUDA provider is not installed');
    expect(warning).toContain('npm install onnxruntime-node --onnxruntime-node-install=cuda12');
    expect(warning).toContain('CUDA 12 and cuDNN 9');
    expect(warning).toContain('No supported adapters');
    expect(warning).toContain('libvulkan1');
    expect(warning).toContain('NVIDIA driver');
    expect(warning.split('\n')).toHaveLength(1);
  });

  it('runs an explicit cpu request on the CPU with the cores as intra-op threads, probing nothing', async () => {
    const { fake, asked } = probes({ gpuCount: 0 });
    const resolved = await resolveDevice({ kind: 'cpu', index: 0 }, fake);
    expect(resolved.device).toEqual({ label: 'cpu', provider: 'cpu', index: 0 });
    expect(resolved.sessionOptions.intraOpNumThreads).toBe(availableParallelism());
    expect(resolved.warning).toBeUndefined();
    expect(asked).toEqual([]);
  });

  it("passes on the parser's warning for a cpu request that stands in for a GPU", async () => {
    const { fake } = probes({ gpuCount: 0 });
    const resolved = await resolveDevice({ kind: 'cpu', index: 0, warning: 'no GPU found' }, fake);
    expect(resolved.warning).toBe('no GPU found');
  });

  it('refuses a GPU index past the GPUs found', async () => {
    const { fake, asked } = probes({ gpuCount: 2, cuda: yes });
    const error = await unavailable(gpu(2), fake);
    expect(error.code).toBe('DEVICE_UNAVAILABLE');
    expect(error.device).toBe('gpu:2');
    expect(error.message).toMatch(/GPU index 2 is out of range: this host has GPUs 0 to 1/);
    expect((await unavailable({ kind: 'cuda', index: 0 }, probes({ gpuCount: 0 }).fake)).message).toMatch(
      /this host has no GPU/,
    );
    expect((await unavailable(gpu(-1), fake)).device).toBe('gpu:-1');
    expect(asked).toEqual([]);
  });

  it('never falls back from a provider named explicitly', async () => {
    const cudaError = await unavailable(
      { kind: 'cuda', index: 0 },
      probes({ gpuCount: 1, cuda: no('Failed to load shared library'), webgpu: yes }).fake,
    );
    expect(cudaError.device).toBe('cuda:0');
    expect(cudaError.message).toContain('Failed to load shared library');
    expect(cudaError.message).toContain('--onnxruntime-node-install=cuda12');

    const webgpuError = await unavailable(
      { kind: 'webgpu', index: 0 },
      probes({ gpuCount: 1, cuda: yes }).fake,
    );
    expect(webgpuError.message).toContain('libvulkan1');
  });

  it('uses an explicitly named provider that loads', async () => {
    const resolved = await resolveDevice({ kind: 'cuda', index: 0 }, probes({ gpuCount: 1, cuda: yes }).fake);
    expect(resolved.device.label).toBe('cuda:0');
    const webgpu = await resolveDevice(
      { kind: 'webgpu', index: 0 },
      probes({ gpuCount: 1, webgpu: yes }).fake,
    );
    expect(webgpu.device.label).toBe('webgpu:0');
  });

  it('keeps WebGPU to GPU 0, which is the only adapter onnxruntime-node 1.30 can reach', async () => {
    const { fake, asked } = probes({ gpuCount: 2, webgpu: yes });
    const error = await unavailable({ kind: 'webgpu', index: 1 }, fake);
    expect(error.message).toMatch(/cannot choose a WebGPU adapter by index/);
    const resolved = await resolveDevice(gpu(1), fake);
    expect(resolved.device.provider).toBe('cpu');
    expect(resolved.warning).toMatch(/runs one process per GPU, each bound to its own GPU/);
    expect(asked).toEqual(['cuda:1']);
  });
});

describe('sessionOptionsFor', () => {
  it('refuses a thread count that is not a positive integer', () => {
    const cpu = { label: 'cpu', provider: 'cpu', index: 0 } as const;
    expect(() => sessionOptionsFor(cpu, { intraOpThreads: 0 })).toThrow(RangeError);
    expect(() => sessionOptionsFor(cpu, { intraOpThreads: 1.5 })).toThrow(RangeError);
    expect(sessionOptionsFor(cpu, { intraOpThreads: 1 }).intraOpNumThreads).toBe(1);
  });
});

describe('makeOrtProbes', () => {
  /** An onnxruntime-node stand-in whose sessions succeed or fail per provider. */
  function fakeOrt(backends: Array<{ name: string; bundled: boolean }>, failing: Record<string, string>) {
    const created: unknown[] = [];
    const ort: OrtForProbes = {
      listSupportedBackends: () => backends,
      InferenceSession: {
        create: ((_model: Uint8Array, options: { executionProviders: Array<{ name: string }> }) => {
          const provider = options.executionProviders[0]!;
          created.push(provider);
          const failure = failing[provider.name];
          if (failure !== undefined) return Promise.reject(new Error(`${failure}\n  at native code`));
          return Promise.resolve({ release: () => Promise.resolve() });
        }) as unknown as OrtForProbes['InferenceSession']['create'],
      },
    };
    return { ort, created };
  }
  const stock = [
    { name: 'cpu', bundled: true },
    { name: 'webgpu', bundled: true },
    { name: 'cuda', bundled: false },
  ];

  it('reports CUDA missing without trying to load it when its provider library is absent', async () => {
    const { ort, created } = fakeOrt(stock, {});
    const probe = makeOrtProbes({ ort, gpuCount: 1, binaryDir: '/ort/bin', fileExists: () => false });
    expect(await probe.cuda(0)).toEqual({
      available: false,
      reason: 'the CUDA provider is not installed (no /ort/bin/libonnxruntime_providers_cuda.so)',
    });
    expect(created).toEqual([]);
  });

  it('tries a CUDA session on the GPU when the provider is installed, keeping the first line of a failure', async () => {
    const installed = (path: string) => path === '/ort/bin/libonnxruntime_providers_cuda.so';
    const working = fakeOrt(stock, {});
    const probe = makeOrtProbes({
      ort: working.ort,
      gpuCount: 2,
      binaryDir: '/ort/bin',
      fileExists: installed,
    });
    expect(await probe.cuda(1)).toEqual({ available: true });
    expect(working.created).toEqual([{ name: 'cuda', deviceId: 1 }]);

    const broken = fakeOrt(stock, { cuda: 'libcudnn.so.9: cannot open shared object file' });
    const failing = makeOrtProbes({
      ort: broken.ort,
      gpuCount: 1,
      binaryDir: '/ort/bin',
      fileExists: installed,
    });
    expect(await failing.cuda(0)).toEqual({
      available: false,
      reason: 'its provider failed to start (libcudnn.so.9: cannot open shared object file)',
    });
  });

  it('says so when the build has no CUDA or WebGPU provider at all', async () => {
    const { ort } = fakeOrt([{ name: 'cpu', bundled: true }], {});
    const probe = makeOrtProbes({ ort, gpuCount: 1, binaryDir: '/x', fileExists: () => true });
    expect(reasonOf(await probe.cuda(0))).toMatch(/no CUDA provider/);
    expect(reasonOf(await probe.webgpu(0))).toMatch(/no WebGPU/);
  });

  it('tries a WebGPU session on the default adapter', async () => {
    const ok = fakeOrt(stock, {});
    expect(
      await makeOrtProbes({ ort: ok.ort, gpuCount: 1, binaryDir: '/x', fileExists: () => false }).webgpu(0),
    ).toEqual({ available: true });
    expect(ok.created).toEqual([{ name: 'webgpu' }]);
    const none = fakeOrt(stock, { webgpu: 'Failed to get a WebGPU adapter: No supported adapters' });
    const probe = makeOrtProbes({ ort: none.ort, gpuCount: 1, binaryDir: '/x', fileExists: () => false });
    expect(reasonOf(await probe.webgpu(0))).toMatch(/No supported adapters/);
  });

  it('adds what the host lacks to a failed WebGPU start, and asks only when it failed', async () => {
    let asked = 0;
    const diagnoseWebgpu = () => {
      asked += 1;
      return 'no Vulkan loader (libvulkan.so.1): install libvulkan1';
    };
    const none = fakeOrt(stock, { webgpu: 'Failed to get a WebGPU adapter: No supported adapters' });
    const failing = makeOrtProbes({
      ort: none.ort,
      gpuCount: 1,
      binaryDir: '/x',
      fileExists: () => false,
      diagnoseWebgpu,
    });
    expect(reasonOf(await failing.webgpu(0))).toBe(
      'its provider failed to start (Failed to get a WebGPU adapter: No supported adapters): ' +
        'no Vulkan loader (libvulkan.so.1): install libvulkan1',
    );
    expect(asked).toBe(1);
    const ok = fakeOrt(stock, {});
    const working = makeOrtProbes({
      ort: ok.ort,
      gpuCount: 1,
      binaryDir: '/x',
      fileExists: () => false,
      diagnoseWebgpu,
    });
    expect(await working.webgpu(0)).toEqual({ available: true });
    expect(asked).toBe(1);
    const unexplained = makeOrtProbes({
      ort: none.ort,
      gpuCount: 1,
      binaryDir: '/x',
      fileExists: () => false,
      diagnoseWebgpu: () => undefined,
    });
    expect(reasonOf(await unexplained.webgpu(0))).toBe(
      'its provider failed to start (Failed to get a WebGPU adapter: No supported adapters)',
    );
  });
});
