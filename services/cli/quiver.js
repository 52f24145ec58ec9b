#!/usr/bin/env node
// The `quiver` command. Quiver runs from its TypeScript sources: tsx's loader is registered for this
// process (and for the inference worker threads, see services/scoring/inference-worker-bootstrap.js).
import { register } from 'tsx/esm/api';

register();
const { main } = await import('./main.ts');
process.exitCode = await main(process.argv.slice(2));
