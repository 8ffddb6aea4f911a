import { parseSetId } from "../../lib/contracts/backup-names";
import type { RecoveryReport, StartRecoveryRequest } from "../../lib/contracts/agent-recovery";
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
  async run(args, deps, io) {
    const store = await import("../recovery/store");
    if (args[0] === "--list") {
      io.out(JSON.stringify({ recoveries: await store.listReports(deps.config) }, null, 2));
      return 0;
    }
    if (args[0] === "--show") {
      if (!args[1]) {
        io.err("Usage: lifeboat-agent recover --show <recovery id>");
        return 2;
      }
      io.out(JSON.stringify(store.loadReport(deps.config, args[1]), null, 2));
      return 0;
    }
    let compareWith: StartRecoveryRequest["compareWith"] = "newest";
    let file: string | undefined;
    for (const a of args) {
      if (a.startsWith("--compare=")) {
        const v = a.slice("--compare=".length);
        if (v === "newest" || v === "none") compareWith = v;
        else if (parseSetId(v)) compareWith = { kind: "backup", setId: v };
        else {
          io.err(`--compare takes newest, none or a backup set id (lifeboat-2024-12-18_00-00-00), not "${v}".`);
          return 2;
        }
      } else if (a.startsWith("-")) {
        io.err(`Unknown option ${a}. Usage: ${this.usage.split("\n")[0]}`);
        return 2;
      } else file = a;
    }
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
