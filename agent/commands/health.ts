import type { Command } from "./command";
import { readArgs } from "./args";

export const healthCommand: Command = {
  name: "health",
  summary: "Check the live database: quick_check, kine statistics, owner and mode, disk space, k3s.",
  usage:
    "lifeboat-agent health [--full]\n\n" +
    "Prints the report (the shape of GET /health) as JSON on stdout and the verdict with its reasons on\n" +
    "stderr. --full adds a full PRAGMA integrity_check (slow on large databases). Exit code 0 for ok or\n" +
    "warning, 1 for critical.",
  options: { flags: ["--full"] },
  async run(args, deps, io) {
    const a = readArgs(healthCommand, args, io);
    if (!a) return 2;
    const { runHealthCheck } = await import("../health/check");
    const report = await runHealthCheck(deps, { full: a.has("--full") });
    io.err(`${report.dbPath}: ${report.verdict.toUpperCase()}`);
    for (const r of report.reasons) io.err(`  [${r.level}] ${r.message}${r.fix ? `\n      fix: ${r.fix}` : ""}`);
    io.out(JSON.stringify(report, null, 2));
    return report.verdict === "critical" ? 1 : 0;
  },
};
