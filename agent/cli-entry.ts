// The agent's entry point (the bundle's dist/cli.js; the bin's tsx fallback): the young generation's
// setting first (heap-settings.ts), then the CLI and everything it imports, loaded after it. Loading
// the bundle's modules grows the young generation to 8 MB under Node's defaults when the setting comes
// later (measured: `lifeboat-agent --version`, 8.0 MB against 2.0 MB).
import "./heap-settings";

process.env.LIFEBOAT_AGENT_CLI = "1";
// A backup's first task is its snapshot, on the SQLite worker thread. Started here, the thread boots
// (a thread, its chunk of the bundle, SQLite) on the second core while this thread loads the CLI, the
// S3 SDK and the configuration; started by the backup itself it booted only after all of that, and
// the snapshot waited for it. The backup then finds it idle in the pool (run-backup.ts).
if (process.argv[2] === "backup") {
  const { releaseSqliteWorker, takeSqliteWorker } = await import("./sqlite/worker");
  releaseSqliteWorker(takeSqliteWorker());
}
await import("./cli");
