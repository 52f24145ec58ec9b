import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startS3Server, type TestS3Server } from '../../helpers/s3-server.js';

describe('startS3Server', () => {
  let s3: TestS3Server;
  beforeAll(async () => {
    s3 = await startS3Server();
    await s3.createBucket('helper-bucket');
  });
  afterAll(async () => {
    await s3.close();
  });

  it('serves a working bucket through the returned storage', async () => {
    const bytes = new TextEncoder().encode('hello quiver');
    await s3.storage.write('s3://helper-bucket/a/b.txt', bytes);
    expect(await s3.storage.read('s3://helper-bucket/a/b.txt')).toEqual(bytes);
    expect(await s3.storage.read('s3://helper-bucket/a/b.txt', { start: 6, end: 100 })).toEqual(
      bytes.subarray(6),
    );
    const info = await s3.storage.stat('s3://helper-bucket/a/b.txt');
    expect(info).toMatchObject({ uri: 's3://helper-bucket/a/b.txt', size: bytes.length });
    const listed = [];
    for await (const object of s3.storage.list('s3://helper-bucket/')) listed.push(object.uri);
    expect(listed).toEqual(['s3://helper-bucket/a/b.txt']);
  });
});
