import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  type CompletedPart,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';

import { IncompleteRead } from '../../jobs/ports/errors/incomplete-read.js';
import { InvalidStorageUri } from '../../jobs/ports/errors/invalid-storage-uri.js';
import { ObjectChanged } from '../../jobs/ports/errors/object-changed.js';
import { StorageAccessDenied } from '../../jobs/ports/errors/storage-access-denied.js';
import { StorageError } from '../../jobs/ports/errors/storage-error.js';
import { StorageNotFound } from '../../jobs/ports/errors/storage-not-found.js';
import { makeGlobMatcher } from './glob.js';
import { abortError, resolveRetryPolicy, withRetry, type RetryOptions, type RetryPolicy } from './retry.js';
import type {
  ByteRange,
  CallOptions,
  ReadOptions,
  ListOptions,
  ObjectInfo,
  Storage,
  WriteBody,
  WriteOptions,
} from '../../jobs/ports/storage.js';
import { formatUri, parseUri } from '../../jobs/ports/storage-uri.js';

const MiB = 1024 * 1024;
/** S3 refuses multipart parts below 5 MiB (except the last). */
export const minPartSizeBytes = 5 * MiB;

export interface S3StorageOptions {
  /** Custom endpoint for S3-compatible stores (MinIO, Ceph, R2, a test server). Default: AWS. */
  endpoint?: string;
  /** `http://host/bucket/key` instead of `http://bucket.host/key`; most S3-compatible stores need it. Default false. */
  forcePathStyle?: boolean;
  /** Default: the SDK's chain (`AWS_REGION`, shared config). */
  region?: string;
  /** Default: the SDK's standard chain (env, shared files, SSO, web identity, ECS/EC2 metadata). */
  credentials?: S3ClientConfig['credentials'];
  /** Our retries; the SDK's own are turned off so the two never multiply. */
  retry?: RetryOptions;
  /** Time allowed to open a connection. Default 5000 ms. */
  connectionTimeoutMs?: number;
  /** Time allowed for one request and its response headers. Default 60000 ms. */
  requestTimeoutMs?: number;
  /** A socket idle this long (a stalled body) is destroyed and the call retried. Default 30000 ms. */
  socketIdleTimeoutMs?: number;
  /** Multipart part size; bodies up to this size go in one PUT. Default 8 MiB, at least 5 MiB. */
  partSizeBytes?: number;
  /** Keys per ListObjectsV2 page. Default 1000 (the S3 maximum). */
  listPageSize?: number;
  /**
   * Checksums on uploads: `WHEN_SUPPORTED` (the SDK's default) or `WHEN_REQUIRED` for S3-compatible
   * stores that reject the newer checksum headers. Default: `WHEN_REQUIRED` with a custom endpoint.
   */
  checksums?: 'WHEN_SUPPORTED' | 'WHEN_REQUIRED';
  /** Use this client instead of building one (its retry/timeout settings are then the caller's). */
  client?: S3Client;
}

/** S3 storage; `close()` releases the client's sockets (safe to call twice). */
export interface S3Storage extends Storage {
  readonly client: S3Client;
  close(): void;
}

/** Builds the SDK client config: single attempt (we retry), bounded timeouts, path style when asked. */
export function makeS3ClientConfig(options: S3StorageOptions = {}): S3ClientConfig {
  const checksums =
    options.checksums ?? (options.endpoint === undefined ? 'WHEN_SUPPORTED' : 'WHEN_REQUIRED');
  return {
    maxAttempts: 1,
    requestChecksumCalculation: checksums,
    responseChecksumValidation: checksums,
    requestHandler: {
      connectionTimeout: options.connectionTimeoutMs ?? 5_000,
      requestTimeout: options.requestTimeoutMs ?? 60_000,
      throwOnRequestTimeout: true,
      socketTimeout: options.socketIdleTimeoutMs ?? 30_000,
    },
    ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
    ...(options.forcePathStyle === undefined ? {} : { forcePathStyle: options.forcePathStyle }),
    ...(options.region === undefined ? {} : { region: options.region }),
    ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
  };
}

interface S3Context {
  client: S3Client;
  policy: RetryPolicy;
  partSizeBytes: number;
  listPageSize: number;
}

export function makeS3Storage(options: S3StorageOptions = {}): S3Storage {
  const partSizeBytes = options.partSizeBytes ?? 8 * MiB;
  if (!Number.isInteger(partSizeBytes) || partSizeBytes < minPartSizeBytes) {
    throw new RangeError(
      `partSizeBytes must be an integer >= ${minPartSizeBytes} (5 MiB), got ${partSizeBytes}`,
    );
  }
  const listPageSize = options.listPageSize ?? 1000;
  if (!Number.isInteger(listPageSize) || listPageSize < 1 || listPageSize > 1000) {
    throw new RangeError(`listPageSize must be an integer in [1, 1000], got ${listPageSize}`);
  }
  const ownsClient = options.client === undefined;
  const client = options.client ?? new S3Client(makeS3ClientConfig(options));
  const context: S3Context = {
    client,
    policy: resolveRetryPolicy(options.retry),
    partSizeBytes,
    listPageSize,
  };
  let closed = false;
  return {
    client,
    list: (prefixUri, listOptions) => listObjects(context, prefixUri, listOptions),
    stat: (uri, callOptions) => statObject(context, uri, callOptions),
    read: (uri, range, callOptions) => readObject(context, uri, range, callOptions),
    write: (uri, body, writeOptions) => writeObject(context, uri, body, writeOptions),
    delete: (uri, callOptions) => deleteObject(context, uri, callOptions),
    close() {
      if (closed || !ownsClient) return;
      closed = true;
      client.destroy();
    },
  };
}

function s3Location(uri: string): { bucket: string; key: string } {
  const location = parseUri(uri);
  if (location.scheme !== 's3') throw new InvalidStorageUri(uri, 's3 storage needs an s3:// URI');
  return location;
}

function objectKey(uri: string): { bucket: string; key: string } {
  const location = s3Location(uri);
  if (location.key === '' || location.key.endsWith('/')) {
    throw new InvalidStorageUri(uri, 'names a prefix, not an object');
  }
  return location;
}

interface SdkError {
  name: string;
  Code?: string;
  $metadata?: { httpStatusCode?: number };
}

/** Maps a final (non-transient) SDK failure onto the storage error classes; anything else passes through. */
export function mapS3Error(error: unknown, uri: string): unknown {
  if (error instanceof StorageError || !(error instanceof Error)) return error;
  const { name, Code, $metadata } = error as Error & SdkError;
  const code = Code ?? name;
  if (code === 'NoSuchBucket') return new StorageNotFound(uri, 'bucket', { cause: error });
  if (code === 'NoSuchKey') return new StorageNotFound(uri, 'key', { cause: error });
  if ($metadata?.httpStatusCode === 404 || code === 'NotFound') {
    return new StorageNotFound(uri, 'key-or-bucket', { cause: error });
  }
  if (code === 'AccessDenied' || code === 'Forbidden' || $metadata?.httpStatusCode === 403) {
    return new StorageAccessDenied(uri, { cause: error });
  }
  return error;
}

function retrying<T>(
  context: S3Context,
  uri: string,
  signal: AbortSignal | undefined,
  operation: () => Promise<T>,
): Promise<T> {
  return withRetry(context.policy, { uri, signal, mapError: (error) => mapS3Error(error, uri) }, operation);
}

/** The SDK passes ETags through with their quotes; strip them so list and stat agree on one form. */
function unquote(etag: string | undefined): string {
  return (etag ?? '').replace(/^"|"$/g, '');
}

async function* listObjects(
  context: S3Context,
  prefixUri: string,
  options: ListOptions = {},
): AsyncGenerator<ObjectInfo> {
  const { bucket, key: prefix } = s3Location(prefixUri);
  const matches = options.glob === undefined ? undefined : makeGlobMatcher(options.glob);
  let continuationToken: string | undefined;
  do {
    const token = continuationToken;
    const page = await retrying(context, prefixUri, options.signal, () =>
      context.client.send(
        new ListObjectsV2Command({
          Bucket: bucket,
          Prefix: prefix,
          MaxKeys: context.listPageSize,
          ...(token === undefined ? {} : { ContinuationToken: token }),
        }),
        { abortSignal: options.signal },
      ),
    );
    for (const object of page.Contents ?? []) {
      if (object.Key === undefined) continue;
      if (matches !== undefined && !matches(object.Key.slice(prefix.length).replace(/^\/+/, ''))) continue;
      yield {
        uri: formatUri({ scheme: 's3', bucket, key: object.Key }),
        size: object.Size ?? 0,
        etag: unquote(object.ETag),
        lastModified: object.LastModified ?? new Date(0),
      };
    }
    continuationToken = page.IsTruncated === true ? page.NextContinuationToken : undefined;
  } while (continuationToken !== undefined);
}

async function statObject(context: S3Context, uri: string, options: CallOptions = {}): Promise<ObjectInfo> {
  const { bucket, key } = objectKey(uri);
  const head = await retrying(context, uri, options.signal, () =>
    context.client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }), { abortSignal: options.signal }),
  );
  return {
    uri: formatUri({ scheme: 's3', bucket, key }),
    size: head.ContentLength ?? 0,
    etag: unquote(head.ETag),
    lastModified: head.LastModified ?? new Date(0),
  };
}

/** The object's ETag now, for an error message; undefined when it is gone. */
async function currentEtag(
  context: S3Context,
  uri: string,
  signal?: AbortSignal,
): Promise<string | undefined> {
  try {
    return (await statObject(context, uri, { signal })).etag;
  } catch (error) {
    if (error instanceof StorageNotFound) return undefined;
    throw error;
  }
}

/** `bytes 0-99/1234` → first byte, last byte, total. */
function parseContentRange(header: string | undefined): { first: number; last: number } | undefined {
  const match = header === undefined ? null : /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(header.trim());
  if (match === null) return undefined;
  return { first: Number(match[1]), last: Number(match[2]) };
}

async function readObject(
  context: S3Context,
  uri: string,
  range: ByteRange | undefined,
  options: ReadOptions = {},
): Promise<Uint8Array> {
  const { bucket, key } = objectKey(uri);
  if (range !== undefined) {
    if (!(Number.isInteger(range.start) && Number.isInteger(range.end) && range.start >= 0)) {
      throw new RangeError(`invalid byte range [${range.start}, ${range.end}) for ${uri}`);
    }
    // An empty range needs no request (and S3 cannot express one).
    if (range.end <= range.start) return new Uint8Array(0);
  }
  return retrying(context, uri, options.signal, async () => {
    let response;
    try {
      response = await context.client.send(
        new GetObjectCommand({
          Bucket: bucket,
          Key: key,
          ...(range === undefined ? {} : { Range: `bytes=${range.start}-${range.end - 1}` }),
          ...(options.ifMatch === undefined ? {} : { IfMatch: `"${options.ifMatch}"` }),
        }),
        { abortSignal: options.signal },
      );
    } catch (error) {
      if (options.ifMatch !== undefined && (error as SdkError).$metadata?.httpStatusCode === 412)
        throw new ObjectChanged(uri, options.ifMatch, await currentEtag(context, uri, options.signal), {
          cause: error,
        });
      // A range starting at or past the end is empty under our clamping rule, not an error.
      if (range !== undefined && (error as SdkError).$metadata?.httpStatusCode === 416)
        return new Uint8Array(0);
      throw error;
    }
    const body = response.Body as AsyncIterable<Uint8Array> | undefined;
    // Servers that ignore If-Match still answer the version they served.
    if (
      options.ifMatch !== undefined &&
      response.ETag !== undefined &&
      unquote(response.ETag) !== options.ifMatch
    ) {
      (body as { destroy?: () => void } | undefined)?.destroy?.();
      throw new ObjectChanged(uri, options.ifMatch, unquote(response.ETag));
    }
    const contentRange = parseContentRange(response.ContentRange);
    const contentLength = response.ContentLength;
    let bytes: Uint8Array;
    if (range !== undefined && contentRange !== undefined) {
      if (contentRange.first !== range.start) {
        // Release the connection rather than leave an unread body holding it.
        (body as { destroy?: () => void } | undefined)?.destroy?.();
        throw new Error(`${uri}: asked for bytes from ${range.start}, got ${response.ContentRange}`);
      }
      bytes = await readExactly(
        uri,
        body,
        contentRange.last - contentRange.first + 1,
        options.signal,
        options.into,
      );
      // Some S3-compatible servers answer a one-byte range with the whole object; keep only what was asked.
      if (bytes.length > range.end - range.start) bytes = bytes.subarray(0, range.end - range.start);
    } else {
      // No Content-Range: whole object (no range asked, or a server that ignores Range). Slice ourselves.
      const whole = await readExactly(uri, body, contentLength, options.signal);
      bytes =
        range === undefined
          ? whole
          : whole.subarray(Math.min(range.start, whole.length), Math.min(range.end, whole.length));
    }
    return bytes;
  });
}

/**
 * Drains a body into one buffer of the announced size. A short body (a connection dropped mid-read that the
 * HTTP stack reported as a clean end) becomes `IncompleteRead`, which is retried, never returned.
 */
async function readExactly(
  uri: string,
  body: AsyncIterable<Uint8Array> | undefined,
  expected: number | undefined,
  signal: AbortSignal | undefined,
  into?: Uint8Array,
): Promise<Uint8Array> {
  // No announced length (a chunked whole-object response): nothing to check against, take what comes.
  if (expected === undefined) return readAll(body, signal);
  const bytes =
    into !== undefined && into.length >= expected ? into.subarray(0, expected) : new Uint8Array(expected);
  let received = 0;
  if (body !== undefined) {
    for await (const chunk of body) {
      if (signal?.aborted) throw abortError(signal);
      if (received + chunk.length > expected) {
        throw new IncompleteRead(uri, expected, received + chunk.length);
      }
      bytes.set(chunk, received);
      received += chunk.length;
    }
  }
  if (received !== expected) throw new IncompleteRead(uri, expected, received);
  return bytes;
}

async function readAll(
  body: AsyncIterable<Uint8Array> | undefined,
  signal: AbortSignal | undefined,
): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of body ?? []) {
    if (signal?.aborted) throw abortError(signal);
    chunks.push(chunk);
    total += chunk.length;
  }
  return concat(chunks, total);
}

async function writeObject(
  context: S3Context,
  uri: string,
  body: WriteBody,
  options: WriteOptions = {},
): Promise<void> {
  const { bucket, key } = objectKey(uri);
  const parts = partsOf(body, context.partSizeBytes);
  const first = await parts.next();
  const firstPart = first.done === true ? new Uint8Array(0) : first.value;
  const second = first.done === true ? await parts.return(undefined) : await parts.next();
  if (second.done === true) {
    await putObject(context, uri, bucket, key, firstPart, options);
    return;
  }
  await multipartUpload(context, uri, bucket, key, prependParts([firstPart, second.value], parts), options);
}

async function putObject(
  context: S3Context,
  uri: string,
  bucket: string,
  key: string,
  bytes: Uint8Array,
  options: WriteOptions,
): Promise<void> {
  await retrying(context, uri, options.signal, () =>
    context.client.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: key,
        Body: bytes,
        ContentLength: bytes.length,
        ...(options.contentType === undefined ? {} : { ContentType: options.contentType }),
      }),
      { abortSignal: options.signal },
    ),
  );
}

/**
 * Multipart upload, one part in memory at a time. The object appears only on Complete, so readers never see
 * a partial one; any failure aborts the upload so no orphaned parts keep costing storage.
 */
async function multipartUpload(
  context: S3Context,
  uri: string,
  bucket: string,
  key: string,
  parts: AsyncIterable<Uint8Array>,
  options: WriteOptions,
): Promise<void> {
  const { signal } = options;
  const created = await retrying(context, uri, signal, () =>
    context.client.send(
      new CreateMultipartUploadCommand({
        Bucket: bucket,
        Key: key,
        ...(options.contentType === undefined ? {} : { ContentType: options.contentType }),
      }),
      { abortSignal: signal },
    ),
  );
  const uploadId = created.UploadId;
  if (uploadId === undefined) throw new Error(`${uri}: CreateMultipartUpload returned no UploadId`);
  try {
    const completed: CompletedPart[] = [];
    for await (const part of parts) {
      const partNumber = completed.length + 1;
      const uploaded = await retrying(context, uri, signal, () =>
        context.client.send(
          new UploadPartCommand({
            Bucket: bucket,
            Key: key,
            UploadId: uploadId,
            PartNumber: partNumber,
            Body: part,
            ContentLength: part.length,
          }),
          { abortSignal: signal },
        ),
      );
      completed.push({ PartNumber: partNumber, ETag: uploaded.ETag });
    }
    await retrying(context, uri, signal, () =>
      context.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: bucket,
          Key: key,
          UploadId: uploadId,
          MultipartUpload: { Parts: completed },
        }),
        { abortSignal: signal },
      ),
    );
  } catch (error) {
    // Without the caller's signal: an aborted write must still clean up after itself.
    await retrying(context, uri, undefined, () =>
      context.client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId })),
    ).catch(() => undefined);
    throw error;
  }
}

/** Re-chunks a body into parts of exactly `partSize` bytes (the last may be shorter). */
async function* partsOf(body: WriteBody, partSize: number): AsyncGenerator<Uint8Array, void, undefined> {
  if (body instanceof Uint8Array) {
    for (let offset = 0; offset < body.length; offset += partSize) {
      yield body.subarray(offset, Math.min(offset + partSize, body.length));
    }
    return;
  }
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  for await (const chunk of body) {
    let rest = chunk;
    while (pendingBytes + rest.length >= partSize) {
      const take = partSize - pendingBytes;
      pending.push(rest.subarray(0, take));
      yield concat(pending, partSize);
      rest = rest.subarray(take);
      pending = [];
      pendingBytes = 0;
    }
    if (rest.length > 0) {
      pending.push(rest);
      pendingBytes += rest.length;
    }
  }
  if (pendingBytes > 0) yield concat(pending, pendingBytes);
}

async function* prependParts(
  head: Uint8Array[],
  rest: AsyncIterator<Uint8Array, void, undefined>,
): AsyncGenerator<Uint8Array, void, undefined> {
  try {
    yield* head;
    for (let next = await rest.next(); next.done !== true; next = await rest.next()) yield next.value;
  } finally {
    // Stopped early (a failed part): close the body stream too.
    await rest.return?.(undefined);
  }
}

function concat(chunks: Uint8Array[], totalBytes: number): Uint8Array {
  // Copy even a single chunk: the caller may reuse its buffer after handing it to us.
  const out = new Uint8Array(totalBytes);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

async function deleteObject(context: S3Context, uri: string, options: CallOptions = {}): Promise<void> {
  const { bucket, key } = objectKey(uri);
  // S3 answers 204 for a missing key too, so "already gone" is success, as on file://.
  await retrying(context, uri, options.signal, () =>
    context.client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }), {
      abortSignal: options.signal,
    }),
  );
}
