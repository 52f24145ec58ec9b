/**
 * The values of `open(item)` for each item, flattened in item order, with up to `limit` items' iterables
 * running at once: the current one is consumed as it produces, the next ones are read ahead into memory
 * (planning output: a few numbers per split). Stopping early (an error, a `break`) aborts the ones ahead
 * through the signal `open` is given and waits for nothing.
 */
export async function* readAhead<T, R>(
  items: readonly T[],
  limit: number,
  open: (item: T, signal: AbortSignal) => AsyncIterable<R>,
  signal?: AbortSignal,
): AsyncGenerator<R> {
  const stop = new AbortController();
  const onAbort = (): void => stop.abort(signal?.reason);
  if (signal?.aborted) onAbort();
  else signal?.addEventListener('abort', onAbort, { once: true });
  const ahead: Pump<R>[] = [];
  let opened = 0;
  try {
    for (;;) {
      while (opened < items.length && ahead.length < Math.max(1, limit)) {
        ahead.push(pump(open(items[opened++]!, stop.signal)));
      }
      const current = ahead.shift();
      if (current === undefined) return;
      yield* drain(current);
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
    stop.abort(new Error('read-ahead stopped'));
  }
}

interface Pump<R> {
  values: R[];
  done: boolean;
  failed: boolean;
  error: unknown;
  wake: (() => void) | undefined;
}

/** Starts reading `iterable` into a buffer at once; errors are kept for `drain` to throw. */
function pump<R>(iterable: AsyncIterable<R>): Pump<R> {
  const state: Pump<R> = { values: [], done: false, failed: false, error: undefined, wake: undefined };
  const notify = (): void => {
    const wake = state.wake;
    state.wake = undefined;
    wake?.();
  };
  void (async () => {
    try {
      for await (const value of iterable) {
        state.values.push(value);
        notify();
      }
    } catch (error) {
      state.failed = true;
      state.error = error;
    }
    state.done = true;
    notify();
  })();
  return state;
}

async function* drain<R>(state: Pump<R>): AsyncGenerator<R> {
  for (;;) {
    if (state.values.length > 0) {
      yield* state.values.splice(0);
      continue;
    }
    if (state.failed) throw state.error;
    if (state.done) return;
    await new Promise<void>((resolve) => (state.wake = resolve));
  }
}
