import { wantsHelp } from '../cli/command.js';
import { type SchedulerConfig, loadSchedulerConfig } from './scheduler-options.js';
import { metricsPortFromEnv } from '../process/metrics.js';
import { runSchedulerProcess } from './scheduler-process.js';

/**
 * `quiver scheduler`: parses the configuration (invalid values stop here, naming the variable), runs the
 * scheduler until SIGTERM/SIGINT and exits with its code. `--help` prints `usage`; a bad flag prints it
 * and returns 2.
 */
export async function schedulerMain(args: string[], usage: string): Promise<number> {
  if (wantsHelp(args)) {
    process.stdout.write(usage);
    return 0;
  }
  let config: SchedulerConfig;
  let metricsPort;
  try {
    config = loadSchedulerConfig(args, process.env);
    metricsPort = metricsPortFromEnv(process.env);
  } catch (error) {
    if (!String((error as { code?: unknown }).code).startsWith('ERR_PARSE_ARGS')) throw error;
    process.stderr.write(`quiver scheduler: ${(error as Error).message}\n\n${usage}`);
    return 2;
  }
  // Exit explicitly: a drain that ran out of grace, or a forced stop, leaves sockets behind.
  process.exit(await runSchedulerProcess(config, { metricsPort }).exited);
}
