import { readConfig } from '../../schemas/config.js';
import { makeFileStorage, type FileStorageOptions } from './file-storage.js';
import { makeS3Storage, type S3Storage, type S3StorageOptions } from './s3-storage.js';
import type { Storage } from '../../jobs/ports/storage.js';
import { parseUri } from '../../jobs/ports/storage-uri.js';

export { asyncBuffer, toArrayBuffer } from './async-buffer.js';

export interface StorageConfig {
  s3?: S3StorageOptions;
  file?: FileStorageOptions;
}

/** Storage over both schemes; `close()` releases S3 sockets (safe to call twice). */
export interface SchemeStorage extends Storage {
  close(): void;
}

/**
 * Storage settings from the environment: `QUIVER_S3_ENDPOINT`, `QUIVER_S3_FORCE_PATH_STYLE` (`true|false`);
 * region and credentials come from the standard `AWS_*` variables through the SDK. Throws `InvalidConfig`
 * naming the variable when a value is unusable.
 */
export function storageConfigFromEnv(env: NodeJS.ProcessEnv = process.env): StorageConfig {
  const config = readConfig(env, ['QUIVER_S3_ENDPOINT', 'QUIVER_S3_FORCE_PATH_STYLE']);
  const s3: S3StorageOptions = {};
  if (config.QUIVER_S3_ENDPOINT !== undefined) {
    s3.endpoint = config.QUIVER_S3_ENDPOINT;
    // S3-compatible stores rarely care about the region, but the SDK refuses to sign without one.
    if (env.AWS_REGION === undefined && env.AWS_DEFAULT_REGION === undefined) s3.region = 'us-east-1';
  }
  if (config.QUIVER_S3_FORCE_PATH_STYLE !== undefined) s3.forcePathStyle = config.QUIVER_S3_FORCE_PATH_STYLE;
  if (s3.region === undefined && env.AWS_REGION === undefined && env.AWS_DEFAULT_REGION !== undefined) {
    // The SDK reads AWS_REGION only; honour the CLI's older name too.
    s3.region = env.AWS_DEFAULT_REGION;
  }
  return { s3 };
}

/**
 * One storage for every URI: `file://` (and plain paths) go to file storage, `s3://` to S3 storage. The S3
 * client is created on first use, so file-only runs never touch AWS configuration.
 */
export function makeStorage(config: StorageConfig = {}): SchemeStorage {
  const file = makeFileStorage(config.file);
  let s3: S3Storage | undefined;
  let closed = false;
  const pick = (uri: string): Storage => {
    if (parseUri(uri).scheme === 'file') return file;
    if (closed) throw new Error(`storage is closed; cannot reach ${uri}`);
    s3 ??= makeS3Storage(config.s3);
    return s3;
  };
  return {
    // Async wrappers so a bad URI rejects like every other failure instead of throwing synchronously.
    async *list(prefixUri, options) {
      yield* pick(prefixUri).list(prefixUri, options);
    },
    stat: async (uri, options) => pick(uri).stat(uri, options),
    read: async (uri, range, options) => pick(uri).read(uri, range, options),
    write: async (uri, body, options) => pick(uri).write(uri, body, options),
    delete: async (uri, options) => pick(uri).delete(uri, options),
    close() {
      closed = true;
      s3?.close();
    },
  };
}
