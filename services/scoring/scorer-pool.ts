import type { ModelSpec } from '../../schemas/model-spec.js';
import type { Storage } from '../../jobs/ports/storage.js';
import type {
  ChunkScorer,
  ScoreChunkRequest,
  ScorerLease,
  SessionShare,
} from '../../jobs/ports/chunk-scorer.js';
import type { TuningCache } from './auto-batch.js';
import type { DeviceRequest } from './devices.js';
import { scoreChunk } from './score-chunk.js';
import type { ScoredBatch } from './scoring-engine.js';
import { ModelChanged } from '../../jobs/errors/model-changed.js';
import { ModelDigestMismatch } from './errors/model-digest-mismatch.js';
import { type CachedModel, fetchModel } from './model-store.js';
import { availableParallelism } from 'node:os';
import { type OpenedModel, loadModel } from './open-scorer.js';

export interface ScorerPoolOptions {
  storage: Storage;
  cacheDir: string;
  device?: DeviceRequest;
  intraOpThreads?: number;
  /**
   * Sessions kept open at most (default 4, `QUIVER_MAX_OPEN_MODELS`): beyond it the least recently used
   * one that no chunk is using is closed, so a long-lived worker serving many models stays bounded. Sessions
   * in use are never closed; the pool may then hold more until they are released.
   */
  maxOpenModels?: number;
  /** Largest model fetched (default 2 GiB, `QUIVER_MAX_MODEL_BYTES`); a larger one is `MODEL_TOO_LARGE`. */
  maxModelBytes?: number;
  log?: (message: string) => void;
  /** Batch sizes tuned per model digest and device, shared by every lease. */
  tuningCache?: TuningCache;
  /** Told of every inference call: the device it ran on, its rows and the seconds it kept the device busy. */
  onInference?: (device: string, rows: number, seconds: number) => void;
}

/** An open model lent to one chunk; `release()` once the chunk is done with it (safe to call twice). */
export interface ModelLease extends OpenedModel, ScorerLease {
  score(request: ScoreChunkRequest): AsyncGenerator<ScoredBatch>;
}

interface Entry {
  opened: Promise<OpenedModel>;
  users: number;
}

/**
 * The models a worker process has open: one session per model digest, shared by every chunk of every job
 * that scores with those bytes. A job names its model by digest (pinned in the spec, or resolved once at
 * planning), so a model replaced at its URI is never mistaken for the one a job planned with.
 */
export function makeScorerPool(options: ScorerPoolOptions): ScorerPool {
  const onInference = options.onInference;
  /** The scored calls as they are, each told to `onInference` first. */
  async function* observed(calls: AsyncGenerator<ScoredBatch>, device: string): AsyncGenerator<ScoredBatch> {
    if (!onInference) {
      yield* calls;
      return;
    }
    for await (const call of calls) {
      onInference(device, call.rows, call.inferSeconds);
      yield call;
    }
  }
  const maxOpen = options.maxOpenModels ?? 4;
  // Map order is recency order: a used entry is moved to the end.
  const open = new Map<string, Entry>();

  /** Closes idle sessions, least recently used first, while more than `maxOpen` are open. */
  function evict(): void {
    for (const [digest, entry] of open) {
      if (open.size <= maxOpen) return;
      if (entry.users > 0) continue;
      open.delete(digest);
      void entry.opened.then(
        (o) => o.host.close(),
        () => undefined,
      );
      options.log?.(`closed model ${digest} (least recently used of ${open.size + 1} open)`);
    }
  }

  /**
   * The model's bytes in the local cache, verified: stat'ed through `storage` (so through the tenant's
   * grants) and fetched unless the cache holds `pin`'s bytes and the URI still serves an object of their
   * size. Other bytes than the pin throw `ModelChanged` (a digest resolved at planning) or
   * `ModelDigestMismatch` (one the spec pins).
   */
  async function fetchVerified(
    spec: ModelSpec,
    pin: string | undefined,
    storage: Storage,
    signal?: AbortSignal,
  ): Promise<CachedModel> {
    const source = await storage.stat(spec.uri, { signal });
    return fetchModel(storage, spec.uri, {
      source,
      cacheDir: options.cacheDir,
      maxModelBytes: options.maxModelBytes,
      ...(pin === undefined ? {} : { sha256: pin }),
      signal,
    }).catch((error: unknown) => {
      throw changedOrMismatch(error, spec);
    });
  }

  return {
    /**
     * The model's digest: the spec's pin (verified against the bytes unless cached), or the digest of what
     * the URI serves now, fetched into the content-addressed cache so chunks need not fetch it again.
     */
    async resolve(spec: ModelSpec, signal?: AbortSignal, storage = options.storage): Promise<string> {
      return (await fetchVerified(spec, spec.sha256, storage, signal)).sha256;
    },

    /**
     * Opens (or shares) the session for the model with `sha256` (default: the spec's pin, else what the URI
     * serves). No cache or open session stands in for the tenant's read grant on the URI, nor for the URI
     * still serving an object of the digest's size (DESIGN invariant 9): every acquire stats it.
     */
    async acquire(
      spec: ModelSpec,
      sha256: string | undefined,
      signal?: AbortSignal,
      /** The tenant's storage, through which the URI is stat'ed (and fetched when needed). */
      storage = options.storage,
      share: SessionShare = {},
    ): Promise<ModelLease> {
      const model = await fetchVerified(spec, (sha256 ?? spec.sha256)?.toLowerCase(), storage, signal);
      const digest = model.sha256;
      const threads = sharedThreads(options.intraOpThreads ?? availableParallelism(), share.sideBySide);
      // One session per digest and thread count: a model scored alone and as a challenger gets two.
      const key = threads === undefined ? digest : `${digest}/${threads}`;
      let entry = open.get(key);
      if (entry) open.delete(key);
      else {
        const opened = loadModel(
          model,
          threads === undefined ? options : { ...options, intraOpThreads: threads },
        ).catch((error: unknown) => {
          // A failed open is not kept: the next chunk tries again (the error may be transient).
          if (open.get(key) === entry) open.delete(key);
          throw error;
        });
        entry = { opened, users: 0 };
      }
      open.set(key, entry);
      entry.users += 1;
      const leased = entry;
      let released = false;
      const release = (): void => {
        if (released) return;
        released = true;
        leased.users -= 1;
        evict();
      };
      try {
        const opened = await leased.opened;
        evict();
        return {
          ...opened,
          sha256: digest,
          release,
          score: (request) =>
            observed(scoreChunk(opened, spec, request, options.tuningCache), opened.host.device.label),
        };
      } catch (error) {
        release();
        throw error;
      }
    },

    /** Sessions open now (for tests and metrics). */
    get size(): number {
      return open.size;
    },

    /** Closes every session. Safe to call twice. */
    async close(): Promise<void> {
      const all = [...open.values()];
      open.clear();
      await Promise.allSettled(all.map(async (e) => (await e.opened).host.close()));
    },
  };
}

/** The port, plus what the process that owns the pool sees: the sessions themselves, their count, close. */
export interface ScorerPool extends ChunkScorer {
  acquire(
    spec: ModelSpec,
    sha256: string | undefined,
    signal?: AbortSignal,
    storage?: Storage,
    share?: SessionShare,
  ): Promise<ModelLease>;
  /** Sessions open now (for tests and metrics). */
  readonly size: number;
  /** Closes every session. Safe to call twice. */
  close(): Promise<void>;
}

/**
 * Intra-op threads for a session run beside `sideBySide - 1` others on each batch: the pool's `threads`
 * divided among them (at least one), or undefined when it runs alone (the pool's own setting). Two
 * sessions of the tabular MLP at 2 threads each on 2 cores spent 0.87-1.10 CPU-s per 1 M rows in ONNX
 * Runtime; at 1 thread each 0.58-0.63, in no more time (4,096-row calls, both running at once).
 */
export function sharedThreads(threads: number, sideBySide = 1): number | undefined {
  if (!Number.isInteger(sideBySide) || sideBySide < 1)
    throw new RangeError(`sideBySide must be a positive integer, got ${sideBySide}`);
  return sideBySide === 1 ? undefined : Math.max(1, Math.floor(threads / sideBySide));
}

/** A digest the spec did not pin was resolved at planning: other bytes now mean the model changed. */
function changedOrMismatch(error: unknown, spec: ModelSpec): unknown {
  if (error instanceof ModelDigestMismatch && spec.sha256 === undefined)
    return new ModelChanged(spec.uri, error.expected, error.actual);
  return error;
}
