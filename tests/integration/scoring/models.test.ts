import { stat } from 'node:fs/promises';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';

import {
  modelFacts,
  modelNames,
  modelPath,
  modelReference,
  type ReferenceArray,
} from '../../../scripts/lib/models.js';

/**
 * Relative tolerance against numpy's float64 reference, unless a model declares its own (float16 ones). ORT computes in float32, so values within
 * `NEAR_ZERO` of zero are compared against `RELATIVE * NEAR_ZERO` instead of a vanishing relative bound.
 */
const RELATIVE = 1e-5;
const NEAR_ZERO = 0.1;

function toTensor(array: ReferenceArray): Tensor {
  return array.type === 'int64'
    ? new Tensor('int64', BigInt64Array.from(array.data, BigInt), array.dims)
    : new Tensor('float32', Float32Array.from(array.data), array.dims);
}

function expectClose(actual: Tensor, expected: ReferenceArray, output: string, tolerance = RELATIVE): void {
  expect(actual.dims, output).toEqual(expected.dims);
  expect(actual.type, output).toBe(expected.type === 'int64' ? 'int64' : 'float32');
  const values = Array.from(actual.data as ArrayLike<number | bigint>, Number);
  if (expected.type === 'int64') {
    expect(values, output).toEqual(expected.data);
    return;
  }
  const worst = expected.data.reduce((max, want, i) => {
    const error = Math.abs((values[i] ?? Number.NaN) - want) / Math.max(Math.abs(want), NEAR_ZERO);
    return Math.max(max, Number.isNaN(error) ? Infinity : error);
  }, 0);
  expect(worst, `${output}: worst relative error`).toBeLessThanOrEqual(tolerance);
}

describe('generated models', () => {
  it.each(modelNames)('%s declares its inputs and outputs and matches the numpy reference', async (name) => {
    const facts = modelFacts[name];
    const session = await InferenceSession.create(await modelPath(name));
    try {
      expect(session.inputMetadata).toEqual(facts.inputs);
      // zipmap-classifier's output_probability must read isTensor: false: the case Quiver has to refuse
      expect(session.outputMetadata).toEqual(facts.outputs);

      const reference = await modelReference(name);
      expect(Object.keys(reference.inputs).sort()).toEqual(facts.inputs.map((i) => i.name).sort());
      const feeds = Object.fromEntries(
        Object.entries(reference.inputs).map(([input, array]) => [input, toTensor(array)]),
      );
      // ONNX Runtime for Node hands back tensors only, so a non-tensor output is left unfetched.
      const tensorOutputs = facts.outputs.filter((o) => o.isTensor).map((o) => o.name);
      const results = await session.run(feeds, tensorOutputs);
      expect(Object.keys(results).sort()).toEqual([...tensorOutputs].sort());
      for (const output of tensorOutputs) {
        const expected = reference.outputs[output];
        const actual = results[output];
        if (expected === undefined || actual === undefined) throw new Error(`${name}: no ${output}`);
        expectClose(actual, expected, output, facts.tolerance);
      }
    } finally {
      await session.release();
    }
  });

  it('compute-heavy-fp16 is float16 inside: half the bytes of compute-heavy, measurably less precise', async () => {
    const [fp16, fp32] = [await modelPath('compute-heavy-fp16'), await modelPath('compute-heavy')];
    const ratio = (await stat(fp16)).size / (await stat(fp32)).size;
    expect(ratio).toBeGreaterThan(0.45);
    expect(ratio).toBeLessThan(0.55);
    expect(modelFacts['compute-heavy-fp16'].float32Of).toBe('compute-heavy');
    const reference = await modelReference('compute-heavy-fp16');
    expect(reference).toEqual({ ...(await modelReference('compute-heavy')), model: 'compute-heavy-fp16' });
    const session = await InferenceSession.create(fp16);
    try {
      const { score } = await session.run({ features: toTensor(reference.inputs.features!) });
      const got = score!.data as Float32Array;
      const want = reference.outputs.score!.data;
      const worst = Math.max(...want.map((w, i) => Math.abs(got[i]! - w) / Math.max(Math.abs(w), NEAR_ZERO)));
      // float32 would be within RELATIVE: the gap is what float16 loses, and stays within its tolerance.
      expect(worst).toBeGreaterThan(RELATIVE);
      expect(worst).toBeLessThanOrEqual(modelFacts['compute-heavy-fp16'].tolerance!);
    } finally {
      await session.release();
    }
  });

  it('generates each model once per generator version and hands back the same cached file', async () => {
    const first = await modelPath('tabular-mlp');
    expect(first).toMatch(/\.cache\/models\/tabular-mlp-[0-9a-f]{12}\.onnx$/);
    const [again, concurrent] = await Promise.all([modelPath('tabular-mlp'), modelPath('tabular-mlp')]);
    expect(again).toBe(first);
    expect(concurrent).toBe(first);
  });
});
