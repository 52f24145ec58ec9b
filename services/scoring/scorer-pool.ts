import type { ModelSpec } from '../../schemas/model-spec.js';
import type { Storage } from '../storage/storage.js';
import type { DeviceRequest } from './devices.js';
import { type OpenedModel, openModel } from './open-scorer.js';

export interface ScorerPoolOptions {
  storage: Storage;
  cacheDir: string;
  device?: DeviceRequest;
  intraOpThreads?: number;
  log?: (message: string) => void;
}

/**
 * The models a worker process has open: one session per model (by URI and pinned digest), created on first
 * use and kept for every later chunk of any job that uses it.
 */
export function makeScorerPool(options: ScorerPoolOptions) {
  const open = new Map<string, Promise<OpenedModel>>();
  return {
    open(spec: ModelSpec, signal?: AbortSignal): Promise<OpenedModel> {
      const key = `${spec.uri}#${spec.sha256 ?? ''}`;
      let opened = open.get(key);
      if (!opened) {
        opened = openModel(options.storage, spec, { ...options, signal });
        // A failed open is not cached: the next chunk tries again (the error may be transient storage).
        opened.catch(() => open.delete(key));
        open.set(key, opened);
      }
      return opened;
    },
    /** Closes every session. Safe to call twice. */
    async close(): Promise<void> {
      const all = [...open.values()];
      open.clear();
      await Promise.allSettled(all.map(async (o) => (await o).host.close()));
    },
  };
}

export type ScorerPool = ReturnType<typeof makeScorerPool>;
