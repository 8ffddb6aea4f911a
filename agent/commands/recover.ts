import { parseSetId } from "../../lib/contracts/backup-names";
import type { RecoveryReport, StartRecoveryRequest } from "../../lib/contracts/agent-recovery";
import { readArgs, usageError } from "./args";
import type { Command } from "./command";

export const recoverCommand: Command = {
  name: "recover",
  summary: "Try every recovery on a copy of the database and compare the best result with the newest good backup.",
  usage:
    "lifeboat-agent recover [<database file>] [--compare=newest|none|<set id>]\n" +
    "lifeboat-agent recover --list | --show <recovery id>\n\n" +
    "Works on copies in LIFEBOAT_STATE_DIR/recoveries/<id>/, never on the live files: integrity_check,\n" +
    '.dump through sqlite3 (its "ROLLBACK; -- due to errors" turned into COMMIT), .recover where the\n' +
    "host's sqlite3 has a working one, then Lifeboat's page-level salvage. Prints the report as JSON on\n" +
    "stdout and the rungs on stderr. Restore the best result with `lifeboat-agent restore recovery:<id>`.\n" +
    "Needs room for its copies (about 6x the database and its WAL) above 256 MiB left free for k3s, and\n" +
    "refuses to start without it; keeps only the results of the 3 newest recoveries.",
  options: { flags: ["--list"], values: ["--compare", "--show"], positionals: 1, alone: ["--list", "--show"] },
  async run(args, deps, io) {
    // One database file at most (`recover a.db b.db` took b.db), and --list / --show alone.
    const a = readArgs(recoverCommand, args, io);
    if (!a) return 2;
    const store = await import("../recovery/store");
    if (a.has("--list")) {
      io.out(JSON.stringify({ recoveries: await store.listReports(deps.config) }, null, 2));
      return 0;
    }
    const show = a.value("--show");
    if (show !== undefined) {
      io.out(JSON.stringify(store.loadReport(deps.config, show), null, 2));
      return 0;
    }
    let compareWith: StartRecoveryRequest["compareWith"] = "newest";
    const v = a.value("--compare");
    if (v === "newest" || v === "none") compareWith = v;
    else if (v !== undefined) {
      if (!parseSetId(v)) return usageError(recoverCommand, io, `--compare takes newest, none or a backup set id (lifeboat-2024-12-18_00-00-00), not "${v}".`);
      compareWith = { kind: "backup", setId: v };
    }
    const file = a.positionals[0];
    const { startRecoveryJob, describeSoundness } = await import("../recovery/ladder");
    const { done } = startRecoveryJob(deps, { path: file, compareWith });
    const job = await done;
    if (job.state !== "succeeded") {
      io.err(`error: ${job.error}`);
      return 1;
    }
    const report = job.result as RecoveryReport;
    for (const r of report.rungs)
      io.err(
        `${r.label}: ${r.state}${r.rows !== null ? `, ${r.rows} rows` : ""}${r.skippedReason ? ` (${r.skippedReason})` : ""}${r.error ? ` (${r.error})` : ""}${r.soundness ? ` (${describeSoundness(r.soundness)})` : ""}`,
      );
    const best = report.rungs.find((r) => r.name === report.best?.rung)?.soundness;
    for (const d of best?.droppedRows ?? []) io.err(`  dropped ${d.key} @ ${d.revision}: ${d.reason}`);
    io.err(report.recommendation);
    io.out(JSON.stringify(report, null, 2));
    return report.best ? 0 : 1;
  },
};
