/**
 * CPU time of the work a process runs, per unit of work (`services/process/cpu-meter.ts`: the process's
 * CPU, every thread, shared equally among the measurements running at once).
 */
export interface CpuMeter {
  /** Starts measuring one unit of work. */
  start(): CpuMeasure;
}

export interface CpuMeasure {
  /** Ends the measurement: the CPU seconds charged to it. Later calls return the same figure. */
  stop(): number;
}

/** No CPU figure (tests, tools): every measurement is 0. */
export const noCpuMeter: CpuMeter = { start: () => ({ stop: () => 0 }) };
