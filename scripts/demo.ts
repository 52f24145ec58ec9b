/** npm run demo — the demo job on built-in defaults (see {@link runDemo}); `quiver demo` runs the same. */
import { runDemo } from './lib/demo-job.js';

await runDemo();
