import crypto from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';

import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';

import {
  makeS3ClientConfig,
  makeS3Storage,
  type S3Storage,
  type S3StorageOptions,
} from '../../services/storage/s3-storage.js';

// s3rver ships no type declarations; this is the slice of its API we use.
interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
  httpServer?: Server;
}
type S3rverConstructor = new (options: {
  address: string;
  port: number;
  silent: boolean;
  directory: string;
  resetOnClose?: boolean;
  vhostBuckets?: boolean;
}) => S3rverInstance;
const S3rver = createRequire(import.meta.url)('s3rver') as S3rverConstructor;

/**
 * s3rver encrypts ListObjectsV2 continuation tokens with single DES, which OpenSSL 3 (Node >= 17) no longer
 * offers, so every truncated listing (more keys than max-keys, e.g. > 1000) fails with InternalError.
 * The token only has to round-trip through s3rver itself, so 'des' is served by AES-128-CTR with the
 * 8-byte key and IV doubled. Only the 'des' algorithm is touched, and only when OpenSSL refuses it, so
 * nothing that works today changes.
 */
function enableS3rverPagination(): void {
  try {
    crypto.createCipheriv('des', Buffer.alloc(8), Buffer.alloc(8));
    return;
  } catch {
    // Unsupported here: patch below.
  }
  const patched = Symbol.for('quiver.s3rver-des-patch');
  const registry = crypto as unknown as Record<symbol, boolean>;
  if (registry[patched] === true) return;
  registry[patched] = true;
  const doubled = (bytes: crypto.BinaryLike | null): Buffer => {
    const buffer = Buffer.from(bytes as Uint8Array);
    return Buffer.concat([buffer, buffer]);
  };
  const { createCipheriv, createDecipheriv } = crypto;
  const cipherFactory = (...args: Parameters<typeof createCipheriv>): ReturnType<typeof createCipheriv> => {
    const [algorithm, key, iv] = args;
    if (algorithm !== 'des') return createCipheriv(...args);
    return createCipheriv('aes-128-ctr', doubled(key as Uint8Array), doubled(iv));
  };
  const decipherFactory = (
    ...args: Parameters<typeof createDecipheriv>
  ): ReturnType<typeof createDecipheriv> => {
    const [algorithm, key, iv] = args;
    if (algorithm !== 'des') return createDecipheriv(...args);
    return createDecipheriv('aes-128-ctr', doubled(key as Uint8Array), doubled(iv));
  };
  crypto.createCipheriv = cipherFactory as typeof createCipheriv;
  crypto.createDecipheriv = decipherFactory as typeof createDecipheriv;
}

/** The dummy credentials s3rver accepts. */
export const testS3Credentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

/**
 * S3 storage options pointing at an S3-protocol endpoint with test credentials (path style, us-east-1).
 * Use it to reach the server through a fault proxy: `makeTestS3Storage(proxy.endpoint, { retry: ... })`.
 */
export function testS3Options(endpoint: string, overrides: S3StorageOptions = {}): S3StorageOptions {
  return {
    endpoint,
    forcePathStyle: true,
    region: 'us-east-1',
    credentials: testS3Credentials,
    ...overrides,
  };
}

/** The environment that points a Quiver process (`quiver api`, `quiver worker`) at the test server. */
export function testS3ProcessEnv(endpoint: string): Record<string, string> {
  return {
    QUIVER_S3_ENDPOINT: endpoint,
    QUIVER_S3_FORCE_PATH_STYLE: 'true',
    AWS_ACCESS_KEY_ID: testS3Credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: testS3Credentials.secretAccessKey,
    AWS_REGION: 'us-east-1',
  };
}

/** A new S3Client for `endpoint` (single attempt, test credentials); `destroy()` it when done. */
export function makeTestS3Client(endpoint: string): S3Client {
  return new S3Client(makeS3ClientConfig(testS3Options(endpoint)));
}

/** A new S3 storage for `endpoint`; `close()` it when done. */
export function makeTestS3Storage(endpoint: string, overrides: S3StorageOptions = {}): S3Storage {
  return makeS3Storage(testS3Options(endpoint, overrides));
}

export interface TestS3Server {
  /** `http://127.0.0.1:<port>`. */
  endpoint: string;
  /** Storage pointed at the server (default options); closed by `close()`. */
  storage: S3Storage;
  /** S3Client pointed at the server; destroyed by `close()`. */
  client: S3Client;
  /** Creates a bucket (names are at least 3 characters, lowercase). */
  createBucket(name: string): Promise<void>;
  /** Another storage with other options (page size, part size, retry); closed by `close()`. */
  makeStorage(overrides?: S3StorageOptions): S3Storage;
  /** Stops the server, closes every client and storage made here, and removes its data. Safe twice. */
  close(): Promise<void>;
}

/**
 * Starts a real S3-protocol server (s3rver) on a random loopback port, storing objects in a fresh temp
 * directory. Close it in `afterAll`/`afterEach`.
 */
export async function startS3Server(): Promise<TestS3Server> {
  enableS3rverPagination();
  const directory = await mkdtemp(path.join(os.tmpdir(), 'quiver-s3rver-'));
  const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory, vhostBuckets: false });
  let address: AddressInfo;
  try {
    address = await server.run();
  } catch (error) {
    await rm(directory, { recursive: true, force: true });
    throw error;
  }
  const endpoint = `http://127.0.0.1:${address.port}`;
  const storages: S3Storage[] = [];
  const makeStorage = (overrides: S3StorageOptions = {}): S3Storage => {
    const storage = makeTestS3Storage(endpoint, overrides);
    storages.push(storage);
    return storage;
  };
  const storage = makeStorage();
  const client = makeTestS3Client(endpoint);
  let closing: Promise<void> | undefined;
  return {
    endpoint,
    storage,
    client,
    makeStorage,
    async createBucket(name) {
      await client.send(new CreateBucketCommand({ Bucket: name }));
    },
    close() {
      closing ??= (async () => {
        // Every step runs even if an earlier one fails.
        for (const made of storages) made.close();
        client.destroy();
        server.httpServer?.closeAllConnections();
        await server.close().catch(() => undefined);
        await rm(directory, { recursive: true, force: true });
      })();
      return closing;
    },
  };
}
