// Moved to agent/testing/test-server-dir.ts. This re-export stays only for e2e/backup-now.spec.ts,
// which imports the old path; delete it once that spec imports "../agent/testing/test-server-dir".
export * from "../testing/test-server-dir";
