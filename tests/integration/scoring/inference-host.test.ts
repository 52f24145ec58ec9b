import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { modelFacts, modelPath } from '../../../scripts/lib/models.js';
import { DeviceUnavailableError } from '../../../services/scoring/errors/device-unavailable-error.js';
import { InferenceError } from '../../../services/scoring/errors/inference-error.js';
import { InferenceHostClosedError } from '../../../services/scoring/errors/inference-host-closed-error.js';
import { InferenceWorkerCrashedError } from '../../../services/scoring/errors/inference-worker-crashed-error.js';
import { ModelLoadError } from '../../../services/scoring/errors/model-load-error.js';
import type { HostTensor } from '../../../services/scoring/inference-host.js';
import {
  makeWorkerInferenceHost,
  type WorkerInferenceHost,
  type WorkerInferenceHostOptions,
} from '../../../services/scoring/worker-inference-host.js';

const hostModule = new URL('../../../services/scoring/worker-inference-host.ts', import.meta.url);

/** Deterministic features in [0, 1): the same batch for the host and the direct session. */
function features(rows: number, width: number, seed = 1): Float32Array {
  const data = new Float32Array(rows * width);
  let state = seed;
  for (let i = 0; i < data.length; i++) {
    state = (Math.imul(state, 1_103_515_245) + 12_345) >>> 0;
    data[i] = state / 2 ** 32;
  }
  return data;
}

function featureFeed(rows: number, width: number, seed = 1): Record<string, HostTensor> {
  return { features: { type: 'float32', data: features(rows, width, seed), dims: [rows, width] } };
}

const bytes = (data: ArrayBufferView) => new Uint8Array(data.buffer, data.byteOffset, data.byteLength);

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error,
  );
}

// Every host a test opens is closed after it, even when the test fails; a leaked worker would keep the
// test process alive.
const open: WorkerInferenceHost[] = [];
async function openHost(options: WorkerInferenceHostOptions): Promise<WorkerInferenceHost> {
  const host = await makeWorkerInferenceHost(options);
  open.push(host);
  return host;
}
afterEach(async () => {
  await Promise.all(open.splice(0).map((host) => host.close()));
});

let scratch: string;
beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'quiver-inference-host-'));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe('worker inference host', () => {
  it('reports the model metadata and scores bitwise like a session on the main thread', async () => {
    const path = await modelPath('tabular-mlp');
    const host = await openHost({ modelPath: path, device: { kind: 'cpu', index: 0 }, intraOpThreads: 2 });
    expect(host.metadata).toEqual({
      inputs: modelFacts['tabular-mlp'].inputs,
      outputs: modelFacts['tabular-mlp'].outputs,
    });
    expect(host.device).toEqual({ label: 'cpu', provider: 'cpu', index: 0 });
    expect(host.warning).toBeUndefined();
    expect(host.state).toBe('ready');

    const session = await InferenceSession.create(path, {
      executionProviders: ['cpu'],
      intraOpNumThreads: 2,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
    });
    try {
      for (const rows of [1, 1_000, 4_096]) {
        const feeds = featureFeed(rows, 64, rows);
        const copy = features(rows, 64, rows);
        const direct = await session.run({ features: new Tensor('float32', copy, [rows, 64]) });
        const hosted = await host.run(feeds);

        expect(feeds.features!.data.byteLength, 'the feed buffer was transferred, not copied').toBe(0);
        const want = direct.score!;
        const got = hosted.score!;
        expect(got.type).toBe('float32');
        expect(got.dims).toEqual([rows, 1]);
        expect(got.data).toBeInstanceOf(Float32Array);
        expect(Buffer.compare(bytes(got.data), bytes(want.data as Float32Array)), `${rows} rows`).toBe(0);
      }
    } finally {
      await session.release();
    }
  });

  it('hands the feed buffers back through `recycle`, ready to be filled and run again', async () => {
    const host = await openHost({ modelPath: await modelPath('tabular-mlp'), intraOpThreads: 2 });
    const feeds = featureFeed(1_000, 64, 3);
    const original = feeds.features!.data.slice();
    const returned: ArrayBuffer[] = [];
    let resolved = false;
    const first = await host.run(feeds, {
      recycle(buffers) {
        expect(resolved, 'handed back before the run resolves').toBe(false);
        returned.push(...buffers);
      },
    });
    resolved = true;
    expect(returned).toHaveLength(1);
    expect(returned[0]!.byteLength).toBe(1_000 * 64 * 4);
    // The same bytes came back (ONNX Runtime does not write to its inputs), and run again they score alike.
    const again = new Float32Array(returned[0]!);
    expect(Buffer.compare(bytes(again), bytes(original))).toBe(0);
    const second = await host.run({ features: { type: 'float32', data: again, dims: [1_000, 64] } });
    expect(Buffer.compare(bytes(second.score!.data), bytes(first.score!.data))).toBe(0);
    // A failed run hands nothing back.
    const failing = vi.fn();
    const wrongWidth = {
      features: { type: 'float32' as const, data: new Float32Array(63 * 4), dims: [4, 63] },
    };
    await rejection(host.run(wrongWidth, { recycle: failing }));
    expect(failing).not.toHaveBeenCalled();
  });

  it('passes the feeds themselves back through `passOn` (a view where it was, not `recycle`), to run again', async () => {
    const host = await openHost({ modelPath: await modelPath('tabular-mlp'), intraOpThreads: 2 });
    const full = featureFeed(1_000, 64, 5).features!;
    // A view on part of a larger buffer, as the engine feeds a call shorter than its capacity.
    const buffer = new Float32Array(1_200 * 64);
    buffer.set(full.data as Float32Array);
    const view = buffer.subarray(0, 600 * 64);
    const original = view.slice();
    const recycle = vi.fn();
    let back: Record<string, HostTensor> | undefined;
    const first = await host.run(
      { features: { type: 'float32', data: view, dims: [600, 64] } },
      { recycle, passOn: (feeds) => (back = feeds) },
    );
    expect(recycle).not.toHaveBeenCalled();
    expect(view.length, "the caller's view is detached").toBe(0);
    const tensor = back!.features!;
    expect(tensor.dims).toEqual([600, 64]);
    expect(tensor.data.length).toBe(600 * 64);
    expect(tensor.data.buffer.byteLength).toBe(1_200 * 64 * 4);
    expect(Buffer.compare(bytes(tensor.data as Float32Array), bytes(original))).toBe(0);
    const second = await host.run(back!);
    expect(Buffer.compare(bytes(second.score!.data), bytes(first.score!.data))).toBe(0);
  });

  it('names the error for a file that is not an ONNX model, and for a missing one', async () => {
    const notOnnx = join(scratch, 'not-a-model.onnx');
    await writeFile(notOnnx, '{"this": "is JSON, not ONNX"}');
    const invalid = await rejection(makeWorkerInferenceHost({ modelPath: notOnnx }));
    expect(invalid).toBeInstanceOf(ModelLoadError);
    expect(invalid).toMatchObject({ code: 'MODEL_INVALID', modelPath: notOnnx });
    expect((invalid as Error).message).toContain(notOnnx);

    const missing = await rejection(makeWorkerInferenceHost({ modelPath: join(scratch, 'nope.onnx') }));
    expect(missing).toBeInstanceOf(ModelLoadError);
    expect(missing).toMatchObject({ code: 'MODEL_NOT_FOUND' });
  });

  it('refuses a provider this host cannot run, from inside the worker', async () => {
    const error = await rejection(
      makeWorkerInferenceHost({
        modelPath: await modelPath('tabular-mlp'),
        device: { kind: 'cuda', index: 7 },
      }),
    );
    expect(error).toBeInstanceOf(DeviceUnavailableError);
    expect(error).toMatchObject({ device: 'cuda:7' });
  });

  it('names the input at fault and leaves the caller buffers alone', async () => {
    const host = await openHost({ modelPath: await modelPath('tabular-mlp') });
    const data = features(2, 64);
    const cases: Array<[Record<string, HostTensor>, string, RegExp]> = [
      [{ feature: { type: 'float32', data, dims: [2, 64] } }, 'INPUT_MISSING', /"features"/],
      [
        {
          features: { type: 'float32', data, dims: [2, 64] },
          extra: { type: 'float32', data, dims: [2, 64] },
        },
        'INPUT_UNKNOWN',
        /"extra"/,
      ],
      [
        { features: { type: 'float64', data: new Float64Array(128), dims: [2, 64] } },
        'INPUT_TYPE_MISMATCH',
        /float32/,
      ],
      [
        { features: { type: 'float32', data, dims: [4, 32] } },
        'INPUT_SHAPE_MISMATCH',
        /\[N, 64\], fed \[4, 32\]/,
      ],
      [{ features: { type: 'float32', data, dims: [3, 64] } }, 'INPUT_SHAPE_MISMATCH', /192 elements/],
    ];
    for (const [feeds, code, message] of cases) {
      const error = await rejection(host.run(feeds));
      expect(error, code).toBeInstanceOf(InferenceError);
      expect(error, code).toMatchObject({ code });
      expect((error as Error).message).toMatch(message);
    }
    expect(data.byteLength).toBe(2 * 64 * 4);
    expect((await host.run({ features: { type: 'float32', data, dims: [2, 64] } })).score?.dims).toEqual([
      2, 1,
    ]);
  });

  it('fetches only the tensor outputs of a model that also has a non-tensor one', async () => {
    const host = await openHost({ modelPath: await modelPath('zipmap-classifier') });
    expect(host.metadata.outputs).toEqual(modelFacts['zipmap-classifier'].outputs);
    const outputs = await host.run(featureFeed(3, 4));
    expect(Object.keys(outputs)).toEqual(['output_label']);
    expect(outputs.output_label).toMatchObject({ type: 'int64', dims: [3] });
    expect(outputs.output_label?.data).toBeInstanceOf(BigInt64Array);
  });

  it('rejects an aborted run at once and keeps serving', async () => {
    const host = await openHost({ modelPath: await modelPath('compute-heavy') });
    const controller = new AbortController();
    const slow = host.run(featureFeed(8_192, 64), { signal: controller.signal });
    await new Promise((resolve) => setTimeout(resolve, 20));
    const abortedAt = performance.now();
    controller.abort();
    const error = await rejection(slow);
    expect(performance.now() - abortedAt).toBeLessThan(50);
    expect((error as Error).name).toBe('AbortError');

    const already = await rejection(host.run(featureFeed(1, 64), { signal: AbortSignal.abort() }));
    expect((already as Error).name).toBe('AbortError');
    expect((await host.run(featureFeed(5, 64))).score?.dims).toEqual([5, 1]);
  });

  it('closes twice safely, rejecting runs pending at close and any run after it', async () => {
    const host = await makeWorkerInferenceHost({ modelPath: await modelPath('compute-heavy') });
    const pending = host.run(featureFeed(4_096, 64));
    const closed = host.close();
    const second = host.close();
    expect(await rejection(pending)).toBeInstanceOf(InferenceHostClosedError);
    await Promise.all([closed, second]);
    await host.close();
    expect(host.state).toBe('closed');
    expect(await rejection(host.run(featureFeed(1, 64)))).toBeInstanceOf(InferenceHostClosedError);
  });

  it('rejects pending and later runs with a clear error when the worker dies', async () => {
    // A stand-in worker: ready at once, dies on its first run.
    const entry = join(scratch, 'dying-worker.mjs');
    await writeFile(
      entry,
      `import { parentPort } from 'node:worker_threads';
      parentPort.postMessage({ type: 'ready', device: { label: 'cpu', provider: 'cpu', index: 0 },
        metadata: { inputs: [{ name: 'x', isTensor: true, type: 'float32', shape: ['N'] }], outputs: [] } });
      parentPort.on('message', () => { throw new Error('native crash stand-in'); });`,
    );
    const host = await openHost({ modelPath: 'unused.onnx', workerUrl: pathToFileURL(entry) });
    const run = () => host.run({ x: { type: 'float32', data: new Float32Array(3), dims: [3] } });
    const error = await rejection(run());
    expect(error).toBeInstanceOf(InferenceWorkerCrashedError);
    expect((error as Error).message).toMatch(
      /INFERENCE_WORKER_CRASHED: the inference worker threw: native crash stand-in/,
    );
    expect(host.state).toBe('crashed');
    expect(await rejection(run())).toBe(error);
    await host.close();
    await host.close();
    expect(host.state).toBe('closed');
  });

  it('lets a tsx process that used and closed a host exit on its own', async () => {
    const script = join(scratch, 'use-and-close.mjs');
    await writeFile(
      script,
      `
      import { makeWorkerInferenceHost } from ${JSON.stringify(hostModule.href)};
      const host = await makeWorkerInferenceHost({ modelPath: ${JSON.stringify(await modelPath('tabular-mlp'))} });
      const out = await host.run({ features: { type: 'float32', data: new Float32Array(64), dims: [1, 64] } });
      await host.close();
      console.log('scored', out.score.dims.join('x'), host.device.label);`,
    );
    const child = spawn(process.execPath, ['--import', 'tsx', script], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exit = await new Promise<number | null>((resolve) => {
      // No process.exit() in the script: it ends only if nothing (no worker, no timer) is left alive.
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      child.on('exit', (code) => {
        clearTimeout(timer);
        resolve(code);
      });
    });
    expect(output).toContain('scored 1x1 cpu');
    expect(exit, output).toBe(0);
  }, 30_000);
});
