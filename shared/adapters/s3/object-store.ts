/**
 * ObjectStore on S3: streaming GETs, multipart uploads through lib-storage for streams, and
 * presigned URLs capped at 15 minutes.
 */

import { Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  NoSuchKey,
  NotFound,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import {
  type ByteRange,
  MAX_PRESIGN_SECONDS,
  ObjectChanged,
  type ObjectStat,
  type ObjectStore,
} from '../../domain/ports.ts';

const clampExpiry = (seconds: number) => Math.max(1, Math.min(MAX_PRESIGN_SECONDS, Math.floor(seconds)));

const isMissing = (error: unknown) =>
  error instanceof NoSuchKey ||
  error instanceof NotFound ||
  (error as { name?: string })?.name === 'NoSuchKey' ||
  (error as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode === 404;

export class S3ObjectStore implements ObjectStore {
  constructor(private readonly client: S3Client) {}

  async *read(bucket: string, key: string, range?: ByteRange): AsyncIterable<Uint8Array> {
    if (range && range.end <= range.start) return;
    const out = await this.client
      .send(
        new GetObjectCommand({
          Bucket: bucket,
          Key: key,
          ...(range ? { Range: `bytes=${range.start}-${range.end - 1}` } : {}),
          ...(range?.etag ? { IfMatch: range.etag } : {}),
        }),
      )
      .catch((error: unknown) => {
        if ((error as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode === 412)
          throw new ObjectChanged(`${bucket} object replaced since its entity tag was taken`);
        throw error;
      });
    // S3 answers a changed object with 412; a store that ignores If-Match still tells its ETag.
    if (range?.etag && out.ETag && out.ETag !== range.etag) {
      (out.Body as Readable | undefined)?.destroy?.();
      throw new ObjectChanged(`${bucket} object replaced since its entity tag was taken`);
    }
    if (!out.Body) return;
    for await (const chunk of out.Body as Readable) yield chunk as Uint8Array;
  }

  async readText(bucket: string, key: string): Promise<string | undefined> {
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return await out.Body?.transformToString('utf8');
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  async write(
    bucket: string,
    key: string,
    body: string | Uint8Array | AsyncIterable<Uint8Array>,
    contentType = 'application/octet-stream',
  ): Promise<void> {
    if (typeof body === 'string' || body instanceof Uint8Array) {
      await this.client.send(
        new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: contentType }),
      );
      return;
    }
    // Streams of unknown length go up in 5 MiB parts (S3's least), two at a time: memory stays
    // small in every worker that writes one (a split range, a people unit) at the same time.
    const upload = new Upload({
      client: this.client,
      params: { Bucket: bucket, Key: key, Body: Readable.from(body), ContentType: contentType },
      partSize: 5 * 1024 * 1024,
      queueSize: 2,
    });
    await upload.done();
  }

  async delete(bucket: string, key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
  }

  async exists(bucket: string, key: string): Promise<boolean> {
    return (await this.stat(bucket, key)) !== undefined;
  }

  async stat(bucket: string, key: string): Promise<ObjectStat | undefined> {
    try {
      const out = await this.client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      return { size: out.ContentLength ?? 0, etag: out.ETag ?? '' };
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  async list(bucket: string, prefix: string): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const out = await this.client.send(
        new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
      );
      for (const o of out.Contents ?? []) if (o.Key) keys.push(o.Key);
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (token);
    return keys;
  }

  presignPut(bucket: string, key: string, expiresInSeconds: number, contentType: string): Promise<string> {
    return getSignedUrl(
      this.client,
      new PutObjectCommand({ Bucket: bucket, Key: key, ContentType: contentType }),
      {
        expiresIn: clampExpiry(expiresInSeconds),
      },
    );
  }

  presignGet(bucket: string, key: string, expiresInSeconds: number, filename: string): Promise<string> {
    const safeName = filename.replace(/[^A-Za-z0-9._-]/g, '_');
    return getSignedUrl(
      this.client,
      new GetObjectCommand({
        Bucket: bucket,
        Key: key,
        ResponseContentDisposition: `attachment; filename="${safeName}"`,
      }),
      { expiresIn: clampExpiry(expiresInSeconds) },
    );
  }
}
