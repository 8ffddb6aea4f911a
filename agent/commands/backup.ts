import type { Command } from "./command";
import { readArgs, usageError } from "./args";
import { readPassphrase } from "../config";
import type { BackupResult } from "../../lib/contracts/agent-backup";
import type { BackupDone } from "../continuous/base-hook";

const METHODS = ["vacuum-into", "backup-one-step"] as const;

export const backupCommand: Command = {
  name: "backup",
  summary: "Take one backup now (snapshot, check, encrypt, upload, retention) and exit.",
  usage:
    "lifeboat-agent backup [--no-retention] [--allow-new-passphrase]\n\n" +
    "Prints the new set's result (set id, object keys, manifest) as JSON on stdout and progress on stderr.\n" +
    "Exit code 0 when the set is complete in the store, 1 when the backup failed (no manifest was uploaded),\n" +
    "2 for a configuration error. --allow-new-passphrase uploads even when the passphrase does not open the\n" +
    "newest existing set (a deliberate passphrase change).",
  // --method (not in the usage) chooses the snapshot's way for tests and benchmarks.
  options: { flags: ["--no-retention", "--allow-new-passphrase"], values: ["--method"] },
  async run(args, deps, io) {
    const a = readArgs(backupCommand, args, io);
    if (!a) return 2;
    const method = a.value("--method") as (typeof METHODS)[number] | undefined;
    if (method !== undefined && !METHODS.includes(method)) return usageError(backupCommand, io, `--method takes ${METHODS.join(" or ")}, not "${method}".`);
    // Configuration errors (exit 2) before any work: no passphrase file, no store.
    readPassphrase(deps.config);
    deps.store();
    const { startBackupJob } = await import("../backup/run-backup");
    // What the job tells the log (base-hook.ts), with the database file its snapshot read: left below for a `serve`.
    const hook = deps.config.logIntervalMs > 0 ? await import("../continuous/base-hook") : null;
    let told = null as BackupDone | null;
    const unsubscribe = hook?.onBackupDone((b) => (told = b));
    const { id, done } = startBackupJob(
      deps,
      { retention: !a.has("--no-retention"), allowNewPassphrase: a.has("--allow-new-passphrase"), snapshotMethod: method },
      "cli",
    );
    // Progress on stderr: one line per step as it finishes, so a CronJob's log tells the story.
    const printed = new Set<string>();
    const report = () => {
      const job = deps.jobs.get(id);
      for (const s of job?.steps ?? []) {
        if ((s.state === "done" || s.state === "skipped") && !printed.has(s.name)) {
          printed.add(s.name);
          io.err(`${s.label}: ${s.state === "skipped" ? "skipped" : "done"}${s.detail ? ` (${s.detail})` : ""}`);
        }
      }
    };
    const timer = setInterval(report, 250);
    const job = await done.finally(() => (clearInterval(timer), unsubscribe?.()));
    report();
    if (job.state !== "succeeded") {
      io.err(`error: ${job.error}`);
      return 1;
    }
    const result = job.result as BackupResult;
    if (result.retentionError) io.err(`warning: ${result.retentionError}`);
    // A `serve` on this host waiting for its log's first base takes this set (base-hook.ts).
    if (hook) {
      try {
        hook.offerBase(deps.config.stateDir, told?.setId === result.setId ? told : { setId: result.setId, revision: result.manifest.database.currentRevision });
      } catch (err) {
        io.err(`warning: could not leave this set for continuous protection as its first base (${(err as Error).message}).`);
      }
    }
    io.out(JSON.stringify(result, null, 2));
    return 0;
  },
};
