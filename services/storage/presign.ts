import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { makeS3ClientConfig, type S3StorageOptions } from './s3-storage.js';
import { InvalidStorageUri } from '../../jobs/ports/errors/invalid-storage-uri.js';
import { parseUri } from '../../jobs/ports/storage-uri.js';

/** Hands out time-limited GET URLs for `s3://` objects, so clients download results without credentials. */
export interface Presigner {
  /**
   * A presigned GET URL of an `s3://` object, valid for `expiresInSeconds` (1 s – 7 days). Signing is
   * local: nothing is sent, and an object that does not exist yields a URL that answers 404.
   */
  presignGet(uri: string, expiresInSeconds: number): Promise<string>;
  /** Releases the client (safe to call twice). */
  close(): void;
}

/** S3's limit on a presigned URL's lifetime (SigV4). */
export const MAX_PRESIGN_SECONDS = 7 * 24 * 3600;

/** A presigner with the same endpoint, path style, region and credentials as the S3 storage it serves. */
export function makeS3Presigner(options: S3StorageOptions = {}): Presigner {
  let client: S3Client | undefined;
  let closed = false;
  return {
    async presignGet(uri, expiresInSeconds) {
      const location = parseUri(uri);
      if (location.scheme !== 's3') throw new InvalidStorageUri(uri, 'only s3:// objects can be presigned');
      if (
        !Number.isInteger(expiresInSeconds) ||
        expiresInSeconds < 1 ||
        expiresInSeconds > MAX_PRESIGN_SECONDS
      ) {
        throw new RangeError(
          `expiresInSeconds must be an integer in [1, ${MAX_PRESIGN_SECONDS}], got ${expiresInSeconds}`,
        );
      }
      if (closed) throw new Error(`presigner is closed; cannot sign ${uri}`);
      // Created on first use, so a deployment with only file:// outputs never reads AWS configuration.
      client ??= new S3Client(makeS3ClientConfig(options));
      return getSignedUrl(client, new GetObjectCommand({ Bucket: location.bucket, Key: location.key }), {
        expiresIn: expiresInSeconds,
      });
    },
    close() {
      closed = true;
      client?.destroy();
    },
  };
}
