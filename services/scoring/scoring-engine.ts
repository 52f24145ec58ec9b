import {
  type Data,
  DataType,
  type RecordBatch,
  Table,
  type Vector,
  makeData,
  makeVector,
  vectorFromArray,
} from 'apache-arrow';
import { looksOutOfMemory } from './batch-tuner.js';
import { FeatureMappingError } from './errors/feature-mapping-error.js';
import type { ResolvedInput } from './feature-mapping.js';
import { type RejectedRows, fillFeatures } from './fill-features.js';
import type { HostTensor, InferenceHost, RunOptions, TensorData } from './inference-host.js';
import { transferablesOf } from './inference-worker-protocol.js';
import { type ResolvedOutput, outputColumns } from './output-mapping.js';
import type { BatchStats } from './batch-stats.js';
import type { SegmentStats } from '../../schemas/run-report.js';
import type { OutputColumnOwners } from '../../jobs/ports/chunk-scorer.js';
import { forChallenger } from '../../jobs/for-challenger.js';
import { type TensorPool, makeTensorPool } from './tensor-pool.js';

/**
 * Feed buffers per host, shared by every engine that scores on it: a worker builds one engine per chunk,
 * and a pool per engine gave every chunk fresh, page-faulted tensors (3 × 2 MiB a chunk at 8,192 rows;
 * ~3 ns a byte to first-touch on the dev VM). Engines on one host take and give synchronously, so two
 * chunks in flight never hold the same buffer.
 */
const poolsByHost = new WeakMap<InferenceHost, TensorPool>();
function sharedPool(host: InferenceHost, count: number): TensorPool {
  let pool = poolsByHost.get(host);
  if (!pool) poolsByHost.set(host, (pool = makeTensorPool({ maxPerSize: count })));
  // Two chunks in flight per process (the worker's default score concurrency), each holding `count`.
  pool.allow(2 * count);
  return pool;
}

/**
 * One column's pieces (the input batches a call spans) as one Data: fixed-width, null-free columns are
 * copied into one array (8 bytes a row for an int64 key), so the output table is one record batch instead
 * of one per piece that the table would otherwise cut every score column into. Others stay in pieces.
 */
function joinPieces(pieces: readonly Data[]): Data[] {
  if (pieces.length <= 1) return [...pieces];
  const first = pieces[0]!;
  const values = first.values as unknown;
  const joinable =
    ArrayBuffer.isView(values) &&
    first.children.length === 0 &&
    first.valueOffsets === undefined &&
    !DataType.isBool(first.type) &&
    pieces.every(
      (piece) =>
        piece.nullCount === 0 && (piece.values as unknown as object)?.constructor === values.constructor,
    );
  if (!joinable) return [...pieces];
  const length = pieces.reduce((sum, piece) => sum + piece.length, 0);
  const stride = first.stride;
  const Ctor = (values as TensorData).constructor as new (n: number) => TensorData;
  const joined = new Ctor(length * stride) as Float64Array;
  let at = 0;
  for (const piece of pieces) {
    // A sliced Data's values already start at its first element (apache-arrow slices the buffers).
    joined.set((piece.values as Float64Array).subarray(0, piece.length * stride), at);
    at += piece.length * stride;
  }
  return [makeData({ type: first.type, length, nullCount: 0, data: joined } as never)];
}

export interface ScoringEngineOptions {
  host: InferenceHost;
  inputs: ResolvedInput[];
  outputs: ResolvedOutput[];
  /** Columns copied from the input to the output ahead of the scores, e.g. keys. */
  passthrough: string[];
  /** Rows per inference call. */
  batchRows: number;
  /**
   * Calls queued on the host at once (default 2): the host never waits for the next tensor, at the cost
   * of `depth + 1` tensors in memory.
   */
  depth?: number;
  /** Told when the runtime runs out of memory and the batch size is halved. */
  log?: (message: string) => void;
  /**
   * Models scored beside this one on every call, on the same rows: their outputs follow the champion's as
   * `<name>.<column>`. An input laid out as one of the champion's (same columns, type, width, null policy)
   * is not mapped again: the champion's tensor is copied.
   */
  challengers?: readonly EngineChallenger[];
  /** The run report's statistics, gathered as calls finish, in stream order (`ScoredBatch.takeStats`). */
  stats?: BatchStats;
}

/** A challenger as the engine scores it: its own session and its mappings resolved on the same data. */
export interface EngineChallenger {
  name: string;
  host: InferenceHost;
  inputs: ResolvedInput[];
  outputs: ResolvedOutput[];
}

/** Whether two resolved inputs fill identical tensors from the same rows. */
function sameLayout(a: ResolvedInput, b: ResolvedInput): boolean {
  return (
    a.type === b.type &&
    a.width === b.width &&
    a.rank === b.rank &&
    JSON.stringify(a.source) === JSON.stringify(b.source) &&
    JSON.stringify(a.nulls) === JSON.stringify(b.nulls)
  );
}

/** What one inference call produced: output rows (passthrough, then scores) and the rows refused. */
export interface ScoredBatch {
  /** Rows of the input stream this call covered, `[rowStart, rowStart + rows)`. */
  rowStart: number;
  rows: number;
  output: Table;
  /** Input rows (stream indexes) refused by a `reject` null policy, with the column that was null. */
  rejected: RejectedRows;
  /** The passthrough columns of the refused rows, in `rejected` order (absent when none were refused). */
  rejectedKeys?: Table;
  /** Seconds this call's rows took to map into its tensors (on this thread). */
  mapSeconds: number;
  /** Seconds the host spent running it (the inference thread's own measure; every model's together). */
  inferSeconds: number;
  /** With `stats`: what was gathered since the last take, this call included (see `makeBatchStats`). */
  takeStats?: () => SegmentStats;
  /** Whose each output column is (set by `scoreChunk`, which knows the passthrough). */
  columns?: OutputColumnOwners;
}

interface PendingCall {
  rowStart: number;
  rows: number;
  /** The input rows this call holds, as batch slices: what a smaller retry re-reads. */
  slices: RecordBatch[];
  feeds: Record<string, HostTensor>;
  /** Each challenger's feeds, in `challengers` order. */
  challengerFeeds: Array<Record<string, HostTensor>>;
  passthrough: Data[][];
  rejected: RejectedRows;
  mapSeconds: number;
  inferSeconds: number;
}

/**
 * Scores a stream of Arrow batches: rows are packed into tensors of `batchRows` rows (batches of any size
 * are split or joined), each tensor is scored on the inference host, and the results come back as output
 * tables in input order. The next tensor is filled on this thread while the host runs the previous one, so
 * the model never waits for mapping, and mapping never waits for the model.
 */
export function makeScoringEngine(options: ScoringEngineOptions) {
  const { host, inputs, outputs, passthrough } = options;
  const challengers = options.challengers ?? [];
  const stats = options.stats;
  // Per challenger input: the champion input it copies, or -1 when it is filled from the rows itself.
  const copies = challengers.map((c) =>
    c.inputs.map((input) => inputs.findIndex((o) => sameLayout(o, input))),
  );
  // The challengers that copy an input, in the order they run on the champion's handed-back tensors.
  const chain = copies.flatMap((from, c) => (from.some((j) => j >= 0) ? [c] : []));
  // After link `l` of [champion, ...chain]: the champion inputs a later link still reads.
  const neededAfter = [0, ...chain.map((_, l) => l + 1)].map(
    (l) => new Set(chain.slice(l).flatMap((c) => copies[c]!.filter((j) => j >= 0))),
  );
  const inputIndex = new Map(inputs.map((input, j) => [input.input, j]));
  // Halved for the rest of the stream when the runtime cannot allocate a batch this large.
  let batchRows = options.batchRows;
  const depth = options.depth ?? 2;
  const outputNames = [
    ...outputs.flatMap((o) => o.names),
    ...challengers.flatMap((c) => c.outputs.flatMap((o) => o.names.map((name) => `${c.name}.${name}`))),
  ];
  for (const name of outputNames) {
    if (passthrough.includes(name)) {
      throw new FeatureMappingError(
        'MODEL_OUTPUT_UNSUPPORTED',
        `output column "${name}" would overwrite the passthrough column of the same name (rename the output, or leave the column out of output.passthrough, or with "*" out through output.exclude)`,
        {
          column: name,
        },
      );
    }
  }

  // Feed buffers come back from the host after each run and are filled again.
  const tensorsPerCall = inputs.length + challengers.reduce((n, c) => n + c.inputs.length, 0);
  const pool = sharedPool(host, (depth + 1) * tensorsPerCall);
  const recycle = (buffers: ArrayBuffer[]): void => pool.give(buffers);

  function newCall(
    rowStart: number,
  ): PendingCall & { tensors: TensorData[]; challengerTensors: TensorData[][]; capacity: number } {
    const capacity = batchRows;
    // Taken when the first rows arrive: the call opened after the stream's last one takes none, so every
    // buffer an engine takes goes back to the pool for the next chunk's engine.
    const tensors: TensorData[] = [];
    return {
      capacity,
      slices: [],
      rowStart,
      rows: 0,
      feeds: {},
      challengerFeeds: challengers.map(() => ({})),
      challengerTensors: challengers.map(() => []),
      passthrough: passthrough.map(() => []),
      rejected: { rows: [], columns: [] },
      mapSeconds: 0,
      inferSeconds: 0,
      tensors,
    };
  }

  function seal(
    call: PendingCall & { tensors: TensorData[]; challengerTensors: TensorData[][]; capacity: number },
  ): PendingCall {
    const feed = (input: ResolvedInput, tensor: TensorData): HostTensor => ({
      type: input.type,
      data: tensor.subarray(0, call.rows * input.width),
      dims: input.rank === 2 ? [call.rows, input.width] : [call.rows],
    });
    // A copied input is not here: it is the champion's own tensor, passed on when the champion is done.
    challengers.forEach((challenger, c) => {
      challenger.inputs.forEach((input, i) => {
        if (copies[c]![i]! < 0)
          call.challengerFeeds[c]![input.input] = feed(input, call.challengerTensors[c]![i]!);
      });
    });
    inputs.forEach((input, i) => {
      call.feeds[input.input] = feed(input, call.tensors[i]!);
    });
    return call;
  }

  /**
   * Runs the champion and every challenger on one sealed call. A challenger that reads a tensor laid out as
   * one of the champion's runs after the champion, on that very tensor handed back by the champion's thread
   * (and the next such challenger after it): no copy of the features, which cost ~0.3 core-s a million
   * 64-float rows in copying and first-touching fresh pages. The others start at once, beside the champion.
   * Each buffer goes back to the pool once no later model in the chain reads it.
   */
  function runModels(
    call: PendingCall,
    signal: AbortSignal | undefined,
    onRun: (seconds: number) => void,
  ): Promise<Array<Record<string, HostTensor>>> {
    const runs: Array<Promise<Record<string, HostTensor>>> = [];
    // The champion's tensors by input index, as the last model in the chain handed them back.
    const shared: Array<HostTensor | undefined> = [];
    const keepOrGive = (
      link: number,
      handed: Record<string, HostTensor>,
      sharedIndex: (name: string) => number,
    ): void => {
      const give: HostTensor[] = [];
      for (const [name, tensor] of Object.entries(handed)) {
        const j = sharedIndex(name);
        if (j >= 0 && neededAfter[link]!.has(j)) shared[j] = tensor;
        else give.push(tensor);
      }
      pool.give(transferablesOf(give));
    };
    const passingOn = (
      link: number,
      sharedIndex: (name: string) => number,
    ): Pick<RunOptions, 'recycle' | 'passOn'> =>
      link === chain.length ? { recycle } : { passOn: (handed) => keepOrGive(link, handed, sharedIndex) };
    let previous = host.run(call.feeds, {
      signal,
      onRun,
      ...passingOn(0, (name) => inputIndex.get(name) ?? -1),
    });
    runs[0] = previous;
    challengers.forEach((challenger, c) => {
      const run = (feeds: Record<string, HostTensor>, options: RunOptions) =>
        challenger.host.run(feeds, { signal, onRun, ...options }).catch((error: unknown) => {
          throw forChallenger(error, challenger.name);
        });
      const link = chain.indexOf(c) + 1;
      if (link === 0) {
        runs[c + 1] = run(call.challengerFeeds[c]!, { recycle });
        return;
      }
      const sharedIndex = (name: string): number => {
        const i = challenger.inputs.findIndex((input) => input.input === name);
        return i < 0 ? -1 : copies[c]![i]!;
      };
      // Only this model's own failure is named for it: the champion's (or an earlier one's) passes as is.
      previous = previous.then(() => {
        const feeds = { ...call.challengerFeeds[c]! };
        challenger.inputs.forEach((input, i) => {
          const from = copies[c]![i]!;
          if (from >= 0) feeds[input.input] = shared[from]!;
        });
        return run(feeds, passingOn(link, sharedIndex));
      });
      runs[c + 1] = previous;
    });
    return Promise.all(runs);
  }

  async function finish(
    call: PendingCall,
    result: Promise<Array<Record<string, HostTensor>>>,
  ): Promise<ScoredBatch> {
    let all: Array<Record<string, HostTensor>>;
    try {
      all = await result;
    } catch (error) {
      if (!looksOutOfMemory(error) || call.rows <= 1) throw error;
      return rescoreSmaller(call, error);
    }
    // A row two models refuse (each maps the null column its own way) is refused once.
    if (challengers.length > 0) call.rejected = distinctRejected(call.rejected);
    const rejectedHere = call.rejected.rows.map((row) => row - call.rowStart);
    const keep = rejectedHere.length > 0 ? keptRows(call.rows, rejectedHere) : undefined;
    const columns: Record<string, Vector> = {};
    // Building the refused rows' keys costs ~50 µs a call even when there are none: only when needed.
    const refusedKeys: Record<string, Vector> | undefined = keep ? {} : undefined;
    passthrough.forEach((name, i) => {
      const vector = makeVector(joinPieces(call.passthrough[i]!));
      if (!keep || !refusedKeys) {
        columns[name] = vector;
        return;
      }
      const pick = (rows: ArrayLike<number>) =>
        vectorFromArray(
          Array.from(rows, (r) => vector.get(r) as unknown),
          vector.type,
        );
      columns[name] = pick(keep);
      refusedKeys[name] = pick(rejectedHere);
    });
    for (const { name, data } of outputColumns(all[0]!, outputs, call.rows, keep))
      columns[name] = makeVector(data);
    challengers.forEach((challenger, c) => {
      try {
        for (const { name, data } of outputColumns(all[c + 1]!, challenger.outputs, call.rows, keep))
          columns[`${challenger.name}.${name}`] = makeVector(data);
      } catch (error) {
        throw forChallenger(error, challenger.name);
      }
    });
    if (stats) {
      stats.observeFeatures(call.slices);
      stats.observeOutputs(columns);
    }
    const scored: ScoredBatch = {
      rowStart: call.rowStart,
      rows: call.rows,
      output: new Table(columns),
      rejected: call.rejected,
      mapSeconds: call.mapSeconds,
      inferSeconds: call.inferSeconds,
    };
    if (refusedKeys) scored.rejectedKeys = new Table(refusedKeys);
    if (stats) scored.takeStats = () => stats.take();
    return scored;
  }

  /**
   * A call the runtime could not allocate: its rows are scored again in calls of half the size (and
   * halved again if need be), and later calls use the smaller size. A job never fails for want of memory
   * while one row still fits.
   */
  async function rescoreSmaller(call: PendingCall, error: unknown): Promise<ScoredBatch> {
    const half = Math.ceil(call.rows / 2);
    batchRows = Math.min(batchRows, half);
    pool.clear(); // buffers of the size that ran out of memory are not wanted again
    options.log?.(
      `out of memory scoring ${call.rows} rows (${error instanceof Error ? error.message : String(error)}); retrying at ${half} rows per call`,
    );
    const smaller = makeScoringEngine({ ...options, batchRows: half, depth: 1 });
    const parts: ScoredBatch[] = [];
    for await (const part of smaller.score(call.slices)) parts.push(part);
    return {
      ...(stats ? { takeStats: () => stats.take() } : {}),
      rowStart: call.rowStart,
      rows: call.rows,
      output: new Table(parts.flatMap((part) => part.output.batches)),
      rejected: {
        rows: parts.flatMap((part) => part.rejected.rows.map((row) => row + call.rowStart)),
        columns: parts.flatMap((part) => part.rejected.columns),
      },
      mapSeconds: call.mapSeconds + parts.reduce((s, part) => s + part.mapSeconds, 0),
      inferSeconds: parts.reduce((s, part) => s + part.inferSeconds, 0),
    };
  }

  /**
   * Scores every row of `batches`. At most `depth + 1` tensors are alive at once: those queued on the host
   * and the one being filled.
   */
  async function* score(
    batches: AsyncIterable<RecordBatch> | Iterable<RecordBatch>,
    signal?: AbortSignal,
  ): AsyncGenerator<ScoredBatch> {
    let call = newCall(0);
    const inflight: Array<{ call: PendingCall; result: Promise<Array<Record<string, HostTensor>>> }> = [];
    let streamRow = 0;

    const launch = async function* (): AsyncGenerator<ScoredBatch> {
      const sealed = seal(call);
      const onRun = (seconds: number): void => {
        sealed.inferSeconds += seconds;
      };
      const result = runModels(sealed, signal, onRun);
      // Keep an early failure from surfacing as an unhandled rejection while earlier calls drain.
      result.catch(() => undefined);
      inflight.push({ call: sealed, result });
      // Up to `depth` calls wait on the host, so it starts the next one the moment it finishes one.
      while (inflight.length > depth) {
        const oldest = inflight.shift()!;
        yield await finish(oldest.call, oldest.result);
      }
      // After the wait: the finished call's buffers are back in the pool for this one.
      call = newCall(sealed.rowStart + sealed.rows);
    };

    for await (const batch of batches) {
      signal?.throwIfAborted();
      for (let offset = 0; offset < batch.numRows;) {
        const take = Math.min(batch.numRows - offset, call.capacity - call.rows);
        const slice = offset === 0 && take === batch.numRows ? batch : batch.slice(offset, offset + take);
        const mapStarted = performance.now();
        if (call.tensors.length === 0) {
          for (const input of inputs) call.tensors.push(pool.take(input.type, call.capacity * input.width));
          challengers.forEach((challenger, c) =>
            challenger.inputs.forEach((input, i) => {
              // Copied inputs take their buffer when sealed; a placeholder keeps the indexes.
              call.challengerTensors[c]!.push(
                copies[c]![i]! >= 0 ? placeholder : pool.take(input.type, call.capacity * input.width),
              );
            }),
          );
        }
        inputs.forEach((input, i) =>
          fillFeatures(call.tensors[i]!, call.rows, slice, input, call.rejected, streamRow),
        );
        challengers.forEach((challenger, c) =>
          challenger.inputs.forEach((input, i) => {
            if (copies[c]![i]! >= 0) return;
            try {
              fillFeatures(call.challengerTensors[c]![i]!, call.rows, slice, input, call.rejected, streamRow);
            } catch (error) {
              throw forChallenger(error, challenger.name);
            }
          }),
        );
        passthrough.forEach((name, i) => {
          const column = slice.getChild(name);
          if (!column)
            throw new FeatureMappingError(
              'FEATURE_COLUMN_MISSING',
              `passthrough column "${name}" is missing`,
              { column: name },
            );
          call.passthrough[i]!.push(...(column.data as Data[]));
        });
        call.slices.push(slice);
        call.mapSeconds += (performance.now() - mapStarted) / 1000;
        call.rows += take;
        offset += take;
        streamRow += take;
        if (call.rows === call.capacity) yield* launch();
      }
    }
    if (call.rows > 0) yield* launch();
    for (const pending of inflight.splice(0)) yield await finish(pending.call, pending.result);
  }

  return { score };
}

export type ScoringEngine = ReturnType<typeof makeScoringEngine>;

const placeholder = new Float32Array(0);

/** The refused rows once each (the first column that refused a row names it), in stream order. */
function distinctRejected(rejected: RejectedRows): RejectedRows {
  const seen = new Set<number>();
  const out: RejectedRows = { rows: [], columns: [] };
  rejected.rows.forEach((row, i) => {
    if (seen.has(row)) return;
    seen.add(row);
    out.rows.push(row);
    out.columns.push(rejected.columns[i]!);
  });
  const order = out.rows.map((_, i) => i).sort((a, b) => out.rows[a]! - out.rows[b]!);
  return { rows: order.map((i) => out.rows[i]!), columns: order.map((i) => out.columns[i]!) };
}

/** Row indexes `0..rows` without the (ascending, possibly repeated) rejected ones. */
function keptRows(rows: number, rejected: number[]): Int32Array {
  const refused = new Set(rejected);
  const keep = new Int32Array(rows - refused.size);
  for (let r = 0, k = 0; r < rows; r++) if (!refused.has(r)) keep[k++] = r;
  return keep;
}
