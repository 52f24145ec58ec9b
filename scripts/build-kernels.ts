/**
 * build:kernels — compiles each WebAssembly kernel's `.wat` source into the TypeScript module the code
 * imports (its bytes as base64), so nothing is compiled at install or run time.
 *   npm run build:kernels
 */
import { writeFile } from 'node:fs/promises';
import { kernels, modulePathOf, renderKernel } from './lib/kernels.js';

for (const wat of kernels) {
  const target = modulePathOf(wat);
  await writeFile(target, await renderKernel(wat));
  console.log(JSON.stringify({ kernel: wat, module: target }));
}
