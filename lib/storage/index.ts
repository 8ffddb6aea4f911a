export * from "./backup-store";
export * from "./errors";
export { S3BackupStore, createS3Client, normalizePrefix, type S3StoreConfig } from "./s3-backup-store";
export { FsBackupStore } from "./fs-backup-store";
export * from "./durable-file";
