import { Field, Float32, Int64, RecordBatch, Schema, Struct, makeData, type Data } from 'apache-arrow';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { modelPath, type ModelName } from '../../../scripts/lib/models.js';
import { FeatureMappingError } from '../../../services/scoring/errors/feature-mapping-error.js';
import { resolveFeatureMapping } from '../../../services/scoring/feature-mapping.js';
import type { InferenceHost } from '../../../services/scoring/inference-host.js';
import { resolveOutputMapping } from '../../../services/scoring/output-mapping.js';
import { makeScoringEngine, type ScoredBatch } from '../../../services/scoring/scoring-engine.js';
import { makeWorkerInferenceHost } from '../../../services/scoring/worker-inference-host.js';
import { seededRandom as random } from '../../helpers/seeded-random.js';

interface Dataset {
  /** Column-major feature values per column name. */
  floats: Record<string, Float32Array>;
  ints: Record<string, BigInt64Array>;
  rows: number;
}

function dataset(rows: number, floatColumns: string[], intColumns: string[] = [], seed = 1): Dataset {
  const next = random(seed);
  const floats = Object.fromEntries(
    floatColumns.map((c) => [c, Float32Array.from({ length: rows }, () => next())]),
  );
  const ints = Object.fromEntries(
    intColumns.map((c) => [c, BigInt64Array.from({ length: rows }, () => BigInt(Math.floor(next() * 1000)))]),
  );
  return { floats, ints, rows };
}

/** The dataset as Arrow batches of uneven sizes (so tensors span batch boundaries), with an `id` key. */
function batchesOf(data: Dataset, sizes: number[]): RecordBatch[] {
  const names = ['id', ...Object.keys(data.ints), ...Object.keys(data.floats)];
  const schema = new Schema(
    names.map((n) => new Field(n, n in data.floats ? new Float32() : new Int64(), false)),
  );
  const batches: RecordBatch[] = [];
  for (let start = 0, i = 0; start < data.rows; i++) {
    const length = Math.min(sizes[i % sizes.length]!, data.rows - start);
    const children: Data[] = names.map((n) =>
      n === 'id'
        ? makeData({
            type: new Int64(),
            length,
            data: BigInt64Array.from({ length }, (_, r) => BigInt(start + r)),
          })
        : n in data.floats
          ? makeData({ type: new Float32(), length, data: data.floats[n]!.slice(start, start + length) })
          : makeData({ type: new Int64(), length, data: data.ints[n]!.slice(start, start + length) }),
    );
    batches.push(
      new RecordBatch(schema, makeData({ type: new Struct(schema.fields), length, nullCount: 0, children })),
    );
    start += length;
  }
  return batches;
}

/** Row-major `[rows, columns]` of the chosen columns, built straight from the dataset (not by the mapper). */
function rowMajor(data: Dataset, columns: string[], from: number, rows: number): Float32Array {
  const out = new Float32Array(rows * columns.length);
  columns.forEach((c, j) => {
    const values = data.floats[c]!;
    for (let r = 0; r < rows; r++) out[r * columns.length + j] = values[from + r]!;
  });
  return out;
}

/**
 * Wraps a host to count the runs whose feed buffers are ones the host handed back earlier (recycled),
 * seen through the `recycle` option the engine passes.
 */
function recyclingHost(inner: InferenceHost): { host: InferenceHost; runs: number; onRecycled: number } {
  const handedBack = new WeakSet<ArrayBufferLike>();
  const counts = { runs: 0, onRecycled: 0 };
  const host: InferenceHost = {
    metadata: inner.metadata,
    device: inner.device,
    close: () => inner.close(),
    run(feeds, options = {}) {
      counts.runs++;
      if (Object.values(feeds).every((feed) => handedBack.has(feed.data.buffer))) counts.onRecycled++;
      const { recycle } = options;
      return inner.run(feeds, {
        ...options,
        recycle(buffers) {
          for (const buffer of buffers) handedBack.add(buffer);
          recycle?.(buffers);
        },
      });
    },
  };
  return Object.assign(counts, { host });
}

async function collect(stream: AsyncIterable<ScoredBatch>): Promise<ScoredBatch[]> {
  const out: ScoredBatch[] = [];
  for await (const scored of stream) out.push(scored);
  return out;
}

function column(scored: ScoredBatch[], name: string): number[] {
  return scored.flatMap((s) => Array.from(s.output.getChild(name)!.toArray() as ArrayLike<number>));
}

const hosts: InferenceHost[] = [];
async function host(name: ModelName): Promise<InferenceHost> {
  const made = await makeWorkerInferenceHost({ modelPath: await modelPath(name), intraOpThreads: 2 });
  hosts.push(made);
  return made;
}

afterAll(async () => {
  await Promise.all(hosts.map((h) => h.close()));
});

const featureNames = (n: number, prefix = 'f') => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

/** ONNX Runtime on this thread, batch by batch: the reference every engine result is held to. */
async function reference(
  name: ModelName,
  data: Dataset,
  batchRows: number,
  feeds: (from: number, rows: number) => Record<string, ort.Tensor>,
  output: string,
): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(await modelPath(name), { intraOpNumThreads: 2 });
  try {
    const parts: Float32Array[] = [];
    for (let from = 0; from < data.rows; from += batchRows) {
      const rows = Math.min(batchRows, data.rows - from);
      const result = await session.run(feeds(from, rows));
      parts.push(result[output]!.data as Float32Array);
    }
    const out = new Float32Array(data.rows * (parts[0]!.length / Math.min(batchRows, data.rows)));
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  } finally {
    await session.release();
  }
}

describe('scoring engine = ONNX Runtime on the same rows', () => {
  const singleInputModels: Array<[ModelName, number, string]> = [
    ['tabular-mlp', 64, 'score'],
    ['tree-ensemble', 64, 'score'],
    ['multiclass', 32, 'probabilities'],
    ['compute-heavy', 64, 'score'],
  ];

  for (const [name, width, output] of singleInputModels) {
    it(`${name}: bitwise at the same batch size, within 1e-5 across batch sizes`, async () => {
      const rows = name === 'compute-heavy' ? 700 : 5_000;
      const data = dataset(rows, featureNames(width));
      const batches = batchesOf(data, [333, 1_024, 57]);
      const h = await host(name);
      const inputs = resolveFeatureMapping(batches[0]!.schema, h.metadata, undefined, {
        passthrough: ['id'],
      });
      const outputs = resolveOutputMapping(h.metadata, { [output]: { listColumn: output } });
      const feeds = (from: number, n: number) => ({
        features: new ort.Tensor('float32', rowMajor(data, featureNames(width), from, n), [n, width]),
      });
      const flat = (scored: ScoredBatch[]) =>
        Float32Array.from(
          scored.flatMap((s) =>
            Array.from(
              s.output
                .getChild(output)!
                .data.flatMap((d) => Array.from(d.children[0]!.values as Float32Array)),
            ),
          ),
        );

      const batchRows = 256;
      const recycling = recyclingHost(h);
      const engine = makeScoringEngine({
        host: recycling.host,
        inputs,
        outputs,
        passthrough: ['id'],
        batchRows,
      });
      const scored = await collect(engine.score(batches));
      const expected = await reference(name, data, batchRows, feeds, output);
      const got = flat(scored);
      expect(got.length).toBe(expected.length);
      // Bitwise equal although most calls were packed into buffers holding an earlier call's rows.
      expect(Buffer.compare(Buffer.from(got.buffer), Buffer.from(expected.buffer))).toBe(0);
      const calls = Math.ceil(rows / batchRows);
      expect(recycling.runs).toBe(calls);
      // Only the first `depth + 1` calls (3) need fresh buffers: each later one reuses one handed back.
      expect(recycling.onRecycled).toBe(calls - 3);
      // Keys stay aligned with their scores, in input order.
      expect(column(scored, 'id').map(Number)).toEqual(Array.from({ length: rows }, (_, i) => i));
      // Keys from several input batches are joined: each call's output is one record batch.
      expect(scored.every((s) => s.output.batches.length === 1)).toBe(true);
      // The next engine on the host (the next chunk) fills the buffers the first one left: none fresh.
      const again = await collect(
        makeScoringEngine({ host: recycling.host, inputs, outputs, passthrough: ['id'], batchRows }).score(
          batches,
        ),
      );
      expect(flat(again)).toEqual(got);
      expect(recycling.onRecycled).toBe(2 * calls - 3);

      const other = await collect(
        makeScoringEngine({ host: h, inputs, outputs, passthrough: ['id'], batchRows: 1_000 }).score(batches),
      );
      const across = flat(other);
      for (let i = 0; i < expected.length; i++) {
        expect(Math.abs(across[i]! - expected[i]!)).toBeLessThanOrEqual(
          1e-5 * Math.max(1, Math.abs(expected[i]!)),
        );
      }
    });
  }

  it('int64-input: two inputs from int64 and float columns, a 1-D output', async () => {
    const data = dataset(3_000, featureNames(8), featureNames(4, 'k'));
    const batches = batchesOf(data, [1_000, 999]);
    const h = await host('int64-input');
    const inputs = resolveFeatureMapping(batches[0]!.schema, h.metadata, {
      ids: { columns: featureNames(4, 'k'), nulls: 'fail' },
      features: { columns: featureNames(8), nulls: 'fail' },
    });
    const outputs = resolveOutputMapping(h.metadata);
    const scored = await collect(
      makeScoringEngine({ host: h, inputs, outputs, passthrough: ['id'], batchRows: 512 }).score(batches),
    );
    const feeds = (from: number, n: number) => {
      const ids = new BigInt64Array(n * 4);
      featureNames(4, 'k').forEach((c, j) => {
        for (let r = 0; r < n; r++) ids[r * 4 + j] = data.ints[c]![from + r]!;
      });
      return {
        ids: new ort.Tensor('int64', ids, [n, 4]),
        features: new ort.Tensor('float32', rowMajor(data, featureNames(8), from, n), [n, 8]),
      };
    };
    const expected = await reference('int64-input', data, 512, feeds, 'score');
    expect(Float32Array.from(column(scored, 'score'))).toEqual(expected);
  });
});

describe('scoring engine out of memory', () => {
  it('halves the batch until the runtime can allocate it, and scores every row exactly as at that size', async () => {
    const data = dataset(2_000, featureNames(64));
    const batches = batchesOf(data, [700]);
    const h = await host('tabular-mlp');
    // The real host, refusing batches over 300 rows the way ONNX Runtime reports an allocation failure.
    const tight: InferenceHost = {
      metadata: h.metadata,
      device: h.device,
      run: (feeds, options) =>
        feeds.features!.dims[0]! > 300
          ? Promise.reject(new Error('Failed to allocate memory for requested buffer of size 1073741824'))
          : h.run(feeds, options),
      close: () => h.close(),
    };
    const inputs = resolveFeatureMapping(batches[0]!.schema, h.metadata, undefined, { passthrough: ['id'] });
    const outputs = resolveOutputMapping(h.metadata, { score: { column: 'score' } });
    const logs: string[] = [];
    const scored = await collect(
      makeScoringEngine({
        host: tight,
        inputs,
        outputs,
        passthrough: ['id'],
        batchRows: 1_024,
        log: (m) => logs.push(m),
      }).score(batches),
    );
    expect(column(scored, 'id').map(Number)).toEqual(Array.from({ length: 2_000 }, (_, i) => i));
    expect(
      logs.some((m) => m.includes('retrying at 512 rows')) &&
        logs.some((m) => m.includes('retrying at 256 rows')),
    ).toBe(true);
    const clean = await collect(
      makeScoringEngine({ host: h, inputs, outputs, passthrough: ['id'], batchRows: 256 }).score(batches),
    );
    expect(Float32Array.from(column(scored, 'score'))).toEqual(Float32Array.from(column(clean, 'score')));
  });

  it('fails on errors that are not allocation failures', async () => {
    const data = dataset(100, featureNames(64));
    const h = await host('tabular-mlp');
    const broken: InferenceHost = {
      metadata: h.metadata,
      device: h.device,
      run: () => Promise.reject(new Error('invalid shape')),
      close: () => h.close(),
    };
    const inputs = resolveFeatureMapping(batchesOf(data, [100])[0]!.schema, h.metadata, undefined, {
      passthrough: ['id'],
    });
    const engine = makeScoringEngine({
      host: broken,
      inputs,
      outputs: resolveOutputMapping(h.metadata),
      passthrough: ['id'],
      batchRows: 64,
    });
    await expect(collect(engine.score(batchesOf(data, [100])))).rejects.toThrow('invalid shape');
  });
});

describe('scoring engine null policies', () => {
  it('drops rejected rows from the output, keeps keys aligned, and reports them by stream row', async () => {
    const data = dataset(1_000, featureNames(64));
    const batches = batchesOf(data, [300]);
    // Null out f3 at rows 5 and 612 by rebuilding those batches with a validity bitmap.
    const withNulls = batches.map((batch, b) => {
      const start = b * 300;
      const nullRows = [5, 612].filter((r) => r >= start && r < start + batch.numRows).map((r) => r - start);
      if (nullRows.length === 0) return batch;
      const bitmap = new Uint8Array(Math.ceil(batch.numRows / 8)).fill(0xff);
      for (const r of nullRows) bitmap[r >> 3]! &= ~(1 << (r & 7));
      const f3 = batch.getChild('f3')!.data[0]!;
      const children = batch.schema.fields.map((f, i) =>
        f.name === 'f3'
          ? makeData({
              type: new Float32(),
              length: f3.length,
              data: f3.values as Float32Array,
              nullBitmap: bitmap,
              nullCount: nullRows.length,
            })
          : batch.data.children[i]!,
      );
      return new RecordBatch(
        batch.schema,
        makeData({ type: batch.data.type, length: batch.numRows, children, nullCount: 0 }),
      );
    });
    const h = await host('tabular-mlp');
    const outputs = resolveOutputMapping(h.metadata, { score: { column: 'score' } });
    const reject = resolveFeatureMapping(withNulls[0]!.schema, h.metadata, {
      features: { columns: featureNames(64), nulls: 'reject' },
    });
    const scored = await collect(
      makeScoringEngine({ host: h, inputs: reject, outputs, passthrough: ['id'], batchRows: 256 }).score(
        withNulls,
      ),
    );
    expect(scored.flatMap((s) => s.rejected.rows)).toEqual([5, 612]);
    expect(scored.flatMap((s) => s.rejected.columns)).toEqual(['f3', 'f3']);
    // The refused rows' keys come with them, for the rejected output.
    expect(
      scored.flatMap((s) =>
        s.rejectedKeys ? Array.from(s.rejectedKeys.getChild('id')!.toArray() as BigInt64Array, Number) : [],
      ),
    ).toEqual([5, 612]);
    const ids = column(scored, 'id').map(Number);
    expect(ids).toHaveLength(998);
    expect(ids).not.toContain(5);
    expect(ids).not.toContain(612);
    // The kept rows score exactly as in a run without the refused rows' neighbours disturbed.
    const clean = resolveFeatureMapping(batches[0]!.schema, h.metadata, {
      features: { columns: featureNames(64), nulls: 'fail' },
    });
    const all = await collect(
      makeScoringEngine({ host: h, inputs: clean, outputs, passthrough: ['id'], batchRows: 256 }).score(
        batches,
      ),
    );
    const byId = new Map(column(all, 'id').map((id, i) => [Number(id), column(all, 'score')[i]!]));
    column(scored, 'score').forEach((score, i) => expect(score).toBe(byId.get(ids[i]!)));

    const fail = resolveFeatureMapping(withNulls[0]!.schema, h.metadata, {
      features: { columns: featureNames(64), nulls: 'fail' },
    });
    const error = await collect(
      makeScoringEngine({ host: h, inputs: fail, outputs, passthrough: ['id'], batchRows: 256 }).score(
        withNulls,
      ),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FeatureMappingError);
    expect((error as FeatureMappingError).where).toMatchObject({ column: 'f3', row: 5 });
  });
});

/**
 * Wraps a host to remember the feed buffers it handed back through `passOn` or `recycle`, and to note, per
 * run, whether its `features` feed sits on a buffer another watched host handed back.
 */
function watchedHost(inner: InferenceHost, handed: WeakSet<ArrayBufferLike>) {
  const runs: boolean[] = [];
  const host: InferenceHost = {
    metadata: inner.metadata,
    device: inner.device,
    close: () => inner.close(),
    run(feeds, options = {}) {
      runs.push(handed.has(feeds.features!.data.buffer));
      const { passOn, recycle } = options;
      return inner.run(feeds, {
        ...options,
        ...(passOn && {
          passOn(back) {
            for (const tensor of Object.values(back)) handed.add(tensor.data.buffer);
            passOn(back);
          },
        }),
        ...(recycle && {
          recycle(buffers) {
            for (const buffer of buffers) handed.add(buffer);
            recycle(buffers);
          },
        }),
      });
    },
  };
  return { host, runs };
}

describe('scoring engine challengers', () => {
  it('runs a challenger laid out as the champion on the tensor the champion handed back, and scores as each model alone', async () => {
    const rows = 3_000;
    const data = dataset(rows, featureNames(64));
    const batches = batchesOf(data, [700, 333]);
    const handed = new WeakSet<ArrayBufferLike>();
    const champion = watchedHost(await host('tabular-mlp'), handed);
    const same = watchedHost(await host('tabular-mlp-v2'), handed);
    const alsoSame = watchedHost(await host('tree-ensemble'), handed);
    const reversed = watchedHost(await host('tree-ensemble'), handed);
    const schema = batches[0]!.schema;
    const inputsOf = (h: InferenceHost, columns?: string[]) =>
      resolveFeatureMapping(
        schema,
        h.metadata,
        columns && { features: { columns, nulls: 'fail' as const } },
        {
          passthrough: ['id'],
        },
      );
    const backwards = [...featureNames(64)].reverse();
    const outputs = (h: InferenceHost) => resolveOutputMapping(h.metadata, { score: { column: 'score' } });
    const batchRows = 256;
    const score = () =>
      collect(
        makeScoringEngine({
          host: champion.host,
          inputs: inputsOf(champion.host),
          outputs: outputs(champion.host),
          passthrough: ['id'],
          batchRows,
          challengers: [
            { name: 'v2', host: same.host, inputs: inputsOf(same.host), outputs: outputs(same.host) },
            {
              name: 'rev',
              host: reversed.host,
              inputs: inputsOf(reversed.host, backwards),
              outputs: outputs(reversed.host),
            },
            {
              name: 'tree',
              host: alsoSame.host,
              inputs: inputsOf(alsoSame.host),
              outputs: outputs(alsoSame.host),
            },
          ],
        }).score(batches),
      );
    const scored = await score();
    const calls = Math.ceil(rows / batchRows);
    // Both challengers laid out as the champion ran every call on the champion's own tensor, passed on.
    expect(same.runs).toEqual(Array.from({ length: calls }, () => true));
    expect(alsoSame.runs).toEqual(Array.from({ length: calls }, () => true));
    // The one with its own layout filled its own tensor (a recycled one once the pool has some).
    expect(reversed.runs).toHaveLength(calls);
    const feeds = (columns: string[]) => (from: number, n: number) => ({
      features: new ort.Tensor('float32', rowMajor(data, columns, from, n), [n, 64]),
    });
    const exact = async (name: ModelName, columns: string[], column_: string) => {
      const expected = await reference(name, data, batchRows, feeds(columns), 'score');
      expect(Float32Array.from(column(scored, column_))).toEqual(expected);
    };
    await exact('tabular-mlp', featureNames(64), 'score');
    await exact('tabular-mlp-v2', featureNames(64), 'v2.score');
    await exact('tree-ensemble', featureNames(64), 'tree.score');
    await exact('tree-ensemble', backwards, 'rev.score');
    expect(column(scored, 'id').map(Number)).toEqual(Array.from({ length: rows }, (_, i) => i));
    // Every buffer came back to the pool: the next chunk's engine takes no fresh one, for any model.
    for (const watched of [champion, same, alsoSame, reversed]) watched.runs.length = 0;
    expect(column(await score(), 'v2.score')).toEqual(column(scored, 'v2.score'));
    for (const watched of [champion, same, alsoSame, reversed])
      expect(watched.runs).toEqual(Array.from({ length: calls }, () => true));
  });

  it("names a challenger's own failure for it, and lets the champion's fail as itself", async () => {
    const data = dataset(600, featureNames(64));
    const batches = batchesOf(data, [600]);
    const h = await host('tabular-mlp');
    const other = await host('tabular-mlp-v2');
    const broken = (inner: InferenceHost): InferenceHost => ({
      metadata: inner.metadata,
      device: inner.device,
      run: () => Promise.reject(new Error('invalid shape')),
      close: () => inner.close(),
    });
    const inputs = resolveFeatureMapping(batches[0]!.schema, h.metadata, undefined, { passthrough: ['id'] });
    const outputs = resolveOutputMapping(h.metadata);
    const engine = (champion: InferenceHost, challenger: InferenceHost) =>
      makeScoringEngine({
        host: champion,
        inputs,
        outputs,
        passthrough: ['id'],
        batchRows: 256,
        challengers: [{ name: 'next', host: challenger, inputs, outputs }],
      });
    const failed = await collect(engine(h, broken(other)).score(batches)).catch((e: unknown) => e as Error);
    expect(failed).toBeInstanceOf(Error);
    expect((failed as Error).message).toBe('challenger "next": invalid shape');
    const championFailed = await collect(engine(broken(h), other).score(batches)).catch(
      (e: unknown) => e as Error,
    );
    expect((championFailed as Error).message).toBe('invalid shape');
  });
});
