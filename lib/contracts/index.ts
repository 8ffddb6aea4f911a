export * from "./backup-names";
export * from "./manifest";
export * from "./catalog";
export * from "./api-error";
export * from "./agent-jobs";
export * from "./agent-backup";
export * from "./nodes";
