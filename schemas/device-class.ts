import { z } from 'zod';

/**
 * Which workers may score a job's chunks: `cpu` only CPU workers, `gpu` only GPU workers, `any` either.
 * Each class has its own score queue; a worker takes the classes its device allows (see
 * `QUIVER_SCORE_CLASSES`).
 */
export const deviceClasses = ['cpu', 'gpu', 'any'] as const;
export const deviceClassSchema = z.enum(deviceClasses);
export type DeviceClass = z.infer<typeof deviceClassSchema>;
