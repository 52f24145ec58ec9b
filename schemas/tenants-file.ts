import { z } from 'zod';

/**
 * `QUIVER_TENANTS_FILE` (YAML): every tenant's API keys, scope, storage grants and limits. Read by the API
 * (keys, grants at submission, limits), the workers (grants at planning and before every write) and the
 * scheduler (grants when a schedule submits).
 *
 * ```yaml
 * tenants:
 *   acme:
 *     keys: ["<plain key, ≥ 16 chars>", "sha256-<hex>"]
 *     admin: false
 *     storage:
 *       read:  ["s3://acme-events/", "s3://models/acme/"]
 *       write: ["s3://acme-scores/"]          # write implies read
 *     limits:                                 # each optional
 *       maxActiveJobs: 100                    # overrides QUIVER_API_MAX_ACTIVE_JOBS
 *       maxRunningChunks: 8                   # chunks scoring at once, every worker together
 *       maxPriority: 5                        # the most urgent spec priority allowed (1 = most urgent)
 * ```
 */
export const tenantsFileSchema = z.strictObject({
  tenants: z.record(
    z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, 'tenant names are 1–63 letters, digits, . _ -'),
    z.strictObject({
      /** Plain keys (≥ 16 visible ASCII characters) or `sha256-<hex>` digests of them. */
      keys: z.array(z.string().min(1)).default([]),
      /** Admin keys may read, cancel and list every tenant's jobs. Default false. */
      admin: z.boolean().default(false),
      /**
       * URI prefixes the tenant's jobs may read (`read`) and write (`write`, which implies read). Absent: no
       * grants (allowed only for a single tenant, or with `QUIVER_STORAGE_GRANTS=open`; never for file://).
       */
      storage: z
        .strictObject({
          read: z.array(z.string().min(1)).default([]),
          write: z.array(z.string().min(1)).default([]),
        })
        .optional(),
      limits: z
        .strictObject({
          /** Jobs not yet terminal at once; overrides `QUIVER_API_MAX_ACTIVE_JOBS` (default 100). */
          maxActiveJobs: z.number().int().min(1).optional(),
          /**
           * The tenant's fair share of the workers: at most this many of its chunks score at once, over every
           * worker process. A chunk over it waits (delayed, without holding a worker or using an attempt)
           * while other tenants' chunks run. Absent: no limit, and no extra Redis call per chunk.
           */
          maxRunningChunks: z.number().int().min(1).optional(),
          /**
           * The most urgent `priority` the tenant's specs may ask for (1 = most urgent, 10 = least): a spec
           * more urgent than this is refused at submission with 403 `PRIORITY_FORBIDDEN` on `priority`, the
           * default priority 5 included. Absent: any priority.
           */
          maxPriority: z.number().int().min(1).max(10).optional(),
        })
        .optional(),
    }),
  ),
});
export type TenantsFile = z.infer<typeof tenantsFileSchema>;
