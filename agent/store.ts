import { FsBackupStore, S3BackupStore, type BackupStore } from "../lib/storage";
import { AgentConfigError, type AgentConfig } from "./config";

/** The backup store named by the configuration: S3 when AWS_S3_BUCKET is set, else LIFEBOAT_BACKUP_DIR. */
export function createStore(cfg: AgentConfig): BackupStore {
  if (cfg.s3) return new S3BackupStore(cfg.s3);
  if (cfg.backupDir) return new FsBackupStore(cfg.backupDir);
  throw new AgentConfigError("No backup store configured: set AWS_S3_BUCKET (with AWS_S3_ENDPOINT for non-AWS S3) or LIFEBOAT_BACKUP_DIR.");
}
