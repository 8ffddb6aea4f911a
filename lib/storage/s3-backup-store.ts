import { Readable } from "node:stream";
import {
  S3Client,
  ListObjectsV2Command,
  HeadObjectCommand,
  GetObjectCommand,
  DeleteObjectCommand,
  type S3ClientConfig,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import type { BackupStore, ListOptions, ListPage, StoredObject } from "./backup-store";
import { NotFoundError, StorageError, type StorageFailure } from "./errors";

export interface S3StoreConfig {
  /** Custom endpoint (MinIO, Garage, R2, s3rver...). Absent means AWS. */
  endpoint?: string;
  bucket: string;
  /** Key prefix (the CronJob's AWS_S3_PATH), with or without slashes. */
  prefix?: string;
  region?: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  /** Connect timeout in ms (default 5000). */
  connectTimeoutMs?: number;
  /** Attempts per request, including the first (default 3). */
  maxAttempts?: number;
  /** Multipart part size in bytes (default 8 MiB; S3's minimum is 5 MiB). */
  partSize?: number;
}

/** Normalizes a user's AWS_S3_PATH: no leading/trailing slashes; "" means the bucket root. */
export function normalizePrefix(prefix: string | undefined): string {
  return (prefix ?? "").replace(/^\/+|\/+$/g, "");
}

/** Builds an S3 client with settings that work against AWS and S3-compatible servers alike. */
export function createS3Client(cfg: S3StoreConfig): S3Client {
  const conf: S3ClientConfig = {
    region: cfg.region || "us-east-1",
    endpoint: cfg.endpoint || undefined,
    forcePathStyle: Boolean(cfg.endpoint),
    // Streamed uploads are otherwise sent aws-chunked, which some S3-compatible servers store verbatim.
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    maxAttempts: cfg.maxAttempts ?? 3,
    requestHandler: new NodeHttpHandler({ connectionTimeout: cfg.connectTimeoutMs ?? 5000, requestTimeout: 120_000 }),
  };
  if (cfg.accessKeyId && cfg.secretAccessKey) {
    conf.credentials = { accessKeyId: cfg.accessKeyId, secretAccessKey: cfg.secretAccessKey };
  }
  return new S3Client(conf);
}

const AUTH_CODES = new Set([
  "InvalidAccessKeyId",
  "SignatureDoesNotMatch",
  "AccessDenied",
  "Forbidden",
  "InvalidToken",
  "ExpiredToken",
  "CredentialsProviderError",
]);
const NET_CODES = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "ETIMEDOUT", "ECONNRESET", "EHOSTUNREACH", "ENETUNREACH", "TimeoutError"]);

function classify(err: unknown): { failure: StorageFailure; reason: string } {
  const e = err as { name?: string; code?: string; Code?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  const name = e?.name ?? "";
  const code = e?.code ?? e?.Code ?? "";
  const status = e?.$metadata?.httpStatusCode;
  if (name === "NoSuchBucket" || code === "NoSuchBucket") return { failure: "no_bucket", reason: "the bucket does not exist" };
  if (AUTH_CODES.has(name) || AUTH_CODES.has(code) || status === 403)
    return { failure: "auth", reason: `access denied (${name || code || "403"}): check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY` };
  if (NET_CODES.has(name) || NET_CODES.has(code) || /ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|socket hang up/.test(e?.message ?? ""))
    return { failure: "unreachable", reason: `cannot reach the endpoint (${code || name || "network error"})` };
  return { failure: "other", reason: `${name || code || "error"}${e?.message && e.message !== name ? `: ${e.message}` : ""}` };
}

function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === "NoSuchKey" || e?.name === "NotFound" || (e?.$metadata?.httpStatusCode === 404 && e?.name !== "NoSuchBucket");
}

/** BackupStore over an S3 bucket (AWS or any S3-compatible server). */
export class S3BackupStore implements BackupStore {
  readonly description: string;
  private readonly prefix: string;
  readonly client: S3Client;

  constructor(private readonly cfg: S3StoreConfig, client?: S3Client) {
    this.prefix = normalizePrefix(cfg.prefix);
    this.client = client ?? createS3Client(cfg);
    const where = `s3://${cfg.bucket}${this.prefix ? "/" + this.prefix : ""}`;
    this.description = cfg.endpoint ? `${where} at ${cfg.endpoint}` : where;
  }

  private fullKey(key: string): string {
    return this.prefix ? `${this.prefix}/${key}` : key;
  }

  private relKey(full: string): string {
    return this.prefix && full.startsWith(this.prefix + "/") ? full.slice(this.prefix.length + 1) : full;
  }

  private fail(op: string, key: string | undefined, err: unknown): never {
    const { failure, reason } = classify(err);
    const target = key === undefined ? this.description : `${key} in ${this.description}`;
    throw new StorageError(`s3: ${op} ${target}: ${reason}`, failure, { cause: err });
  }

  async list(options: ListOptions = {}): Promise<ListPage> {
    const base = this.prefix ? this.prefix + "/" : "";
    try {
      const out = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.cfg.bucket,
          Prefix: base + (options.prefix ?? ""),
          ContinuationToken: options.cursor,
          MaxKeys: options.pageSize ?? 1000,
        }),
      );
      const objects: StoredObject[] = (out.Contents ?? [])
        .filter((o) => o.Key && !o.Key.endsWith("/"))
        .map((o) => ({ key: this.relKey(o.Key!), size: o.Size ?? 0, lastModified: o.LastModified ?? new Date(0) }));
      return { objects, nextCursor: out.IsTruncated ? out.NextContinuationToken : undefined };
    } catch (err) {
      this.fail("list", undefined, err);
    }
  }

  async head(key: string): Promise<StoredObject> {
    try {
      const out = await this.client.send(new HeadObjectCommand({ Bucket: this.cfg.bucket, Key: this.fullKey(key) }));
      return { key, size: out.ContentLength ?? 0, lastModified: out.LastModified ?? new Date(0) };
    } catch (err) {
      if (isNotFound(err)) throw new NotFoundError(`s3: no object ${key} in ${this.description}`, { cause: err });
      this.fail("head", key, err);
    }
  }

  async get(key: string): Promise<Readable> {
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.cfg.bucket, Key: this.fullKey(key) }));
      const body = out.Body;
      if (!body) throw new StorageError(`s3: get ${key}: empty response body`);
      return body instanceof Readable ? body : Readable.fromWeb(body as never);
    } catch (err) {
      if (err instanceof StorageError) throw err;
      if (isNotFound(err)) throw new NotFoundError(`s3: no object ${key} in ${this.description}`, { cause: err });
      this.fail("get", key, err);
    }
  }

  async put(key: string, body: Readable, options: { contentType?: string; onProgress?: (bytes: number) => void } = {}): Promise<void> {
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.cfg.bucket, Key: this.fullKey(key), Body: body, ContentType: options.contentType },
      partSize: this.cfg.partSize ?? 8 * 1024 * 1024,
      queueSize: 2,
      leavePartsOnError: false,
    });
    if (options.onProgress) {
      const cb = options.onProgress;
      upload.on("httpUploadProgress", (p) => cb(p.loaded ?? 0));
    }
    // A failing source stream must abort the upload, not hang it.
    const onErr = () => void upload.abort().catch(() => {});
    body.once("error", onErr);
    try {
      await upload.done();
    } catch (err) {
      if (body.errored) {
        throw new StorageError(`s3: put ${key}: the source stream failed: ${(body.errored as Error).message}`, "other", { cause: body.errored });
      }
      this.fail("put", key, err);
    } finally {
      body.off("error", onErr);
    }
  }

  async delete(key: string): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.cfg.bucket, Key: this.fullKey(key) }));
    } catch (err) {
      if (isNotFound(err)) return;
      this.fail("delete", key, err);
    }
  }
}
