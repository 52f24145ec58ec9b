// Starts a TypeScript worker entry in a thread that may have no TypeScript loader: under vitest (vite-node
// transforms only the test's own thread) a Worker cannot import `.ts`. tsx is registered for this thread,
// then the entry named in workerData is imported. Plain node on compiled `.js` never comes through here.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.entry);
