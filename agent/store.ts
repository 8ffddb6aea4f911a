import type { Readable } from "node:stream";
import type { BackupStore, ListOptions, ListPage, StoredObject } from "../lib/storage/backup-store";
import { FsBackupStore } from "../lib/storage/fs-backup-store";
import type { S3BackupStore, S3StoreConfig } from "../lib/storage/s3-backup-store";
import { AgentConfigError, type AgentConfig } from "./config";

/**
 * S3BackupStore, loaded on first use: the AWS SDK costs ~20 MB of memory that an idle agent (one
 * scheduled backup a day) does not need to hold. Same behaviour and errors as S3BackupStore.
 */
export class LazyS3BackupStore implements BackupStore {
  readonly description: string;
  private inner?: Promise<S3BackupStore>;
  constructor(private readonly cfg: S3StoreConfig) {
    // Same text as S3BackupStore.description (checked by a test), without loading the SDK.
    const prefix = (cfg.prefix ?? "").replace(/^\/+|\/+$/g, "");
    const where = `s3://${cfg.bucket}${prefix ? "/" + prefix : ""}`;
    this.description = cfg.endpoint ? `${where} at ${cfg.endpoint}` : where;
  }
  private load(): Promise<S3BackupStore> {
    return (this.inner ??= loadS3Store(this.cfg));
  }
  async list(options?: ListOptions): Promise<ListPage> {
    return (await this.load()).list(options);
  }
  async head(key: string): Promise<StoredObject> {
    return (await this.load()).head(key);
  }
  async get(key: string): Promise<Readable> {
    return (await this.load()).get(key);
  }
  async put(key: string, body: Readable, options?: { contentType?: string; onProgress?: (bytes: number) => void }): Promise<void> {
    return (await this.load()).put(key, body, options);
  }
  async delete(key: string): Promise<void> {
    return (await this.load()).delete(key);
  }
}

/** One turn of the event loop: what waits (a /livez, a finished read) runs before the next step. */
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Loads the SDK in steps with a turn of the event loop between them: compiling and running its code
 * in one go held the agent's main thread 60-100 ms (more on a busy machine), as the first job began.
 * The S3 client package first (most of it), then the rest of S3BackupStore's code, then the client.
 */
async function loadS3Store(cfg: S3StoreConfig): Promise<S3BackupStore> {
  await turn();
  await import("@aws-sdk/client-s3");
  await turn();
  const m = await import("../lib/storage/s3-backup-store");
  await turn();
  return new m.S3BackupStore(cfg);
}

/** The backup store named by the configuration: S3 when AWS_S3_BUCKET is set, else LIFEBOAT_BACKUP_DIR. */
export function createStore(cfg: AgentConfig): BackupStore {
  // 5 MiB parts (S3's minimum): the upload holds a few parts in memory at once.
  if (cfg.s3) return new LazyS3BackupStore({ partSize: 5 * 1024 * 1024, ...cfg.s3 });
  if (cfg.backupDir) return new FsBackupStore(cfg.backupDir);
  throw new AgentConfigError("No backup store configured: set AWS_S3_BUCKET (with AWS_S3_ENDPOINT for non-AWS S3) or LIFEBOAT_BACKUP_DIR.");
}
