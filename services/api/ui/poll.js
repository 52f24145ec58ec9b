/**
 * Runs `tick` now and then `ms` after each run ends (never two at once), until the returned function is
 * called; that also aborts the run in flight. A tick that returns `false` stops the polling.
 *
 * @param {number} ms
 * @param {(signal: AbortSignal) => Promise<boolean | void>} tick
 * @returns {() => void}
 */
export function every(ms, tick) {
  const controller = new AbortController();
  let timer;
  const run = async () => {
    let again = true;
    try {
      again = (await tick(controller.signal)) !== false;
    } catch (error) {
      if (!(error instanceof DOMException && error.name === 'AbortError')) console.error(error);
    }
    if (again && !controller.signal.aborted) timer = setTimeout(run, ms);
  };
  void run();
  return () => {
    controller.abort();
    clearTimeout(timer);
  };
}

/** A banner for a failed call, or nothing once calls succeed again. */
export function problemText(error) {
  if (!error) return '';
  const detail = error.code ? ` (${error.status} ${error.code})` : '';
  return `${error.message}${detail}`;
}
