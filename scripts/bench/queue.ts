/**
 * bench:queue — the queue's own ceiling: one job of one-row chunks through the real BullMQ queues, job store
 * and commit protocol, with a no-op scorer, consumed by many simulated workers across a few processes, on a
 * private redis-server. One JSON line per configuration: chunks/s, Redis CPU and commands per chunk, Redis
 * bytes per pending chunk, and what one Redis shard carries at that cost (chunks/s, and rows/s at the default
 * chunkRows of 500,000).
 *   npm run bench:queue [-- --chunks 10000 --processes 5 --consumers 10]
 */
import { parseArgs } from 'node:util';
import { runQueueCeiling } from '../lib/queue-harness.js';

const { values } = parseArgs({
  options: {
    chunks: { type: 'string', default: '10000' },
    processes: { type: 'string', default: '5' },
    consumers: { type: 'string', default: '10' },
  },
});
const figures = await runQueueCeiling({
  chunks: Number(values.chunks),
  processes: Number(values.processes),
  consumersPerProcess: Number(values.consumers),
});
console.log(JSON.stringify({ bench: 'queue', ...figures }));
