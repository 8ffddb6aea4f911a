import type { Command } from "./command";
import { readArgs } from "./args";
import type { RetentionReport } from "../../lib/contracts/agent-backup";

const mib = (bytes: number) => (bytes / 1048576).toFixed(1);

function describe(report: RetentionReport): string[] {
  const p = report.policy;
  const lines = [
    `Policy: keep the last ${p.keepLast} sets, plus the newest of ${p.keepDaily} days, ${p.keepWeekly} weeks, ${p.keepMonthly} months (LIFEBOAT_KEEP_*).`,
  ];
  for (const d of report.sets) lines.push(`${d.action.toUpperCase().padEnd(6)} ${d.setId.padEnd(29)} ${d.reasons.join("; ")}`);
  const verb = report.dryRun ? "would delete" : "deleted";
  lines.push(`${report.summary.keep} kept, ${report.summary.delete} ${verb}, ${report.summary.ignore} not managed by retention.`);
  if (report.log && report.log.generations.length === 0) lines.push("Log: the store holds no continuous-protection log.");
  else if (report.log) {
    for (const g of report.log.generations)
      lines.push(
        `${g.action.toUpperCase().padEnd(6)} log ${g.generation.padEnd(25)} ${g.reasons.join("; ")} (${g.segmentsDeleted} segments ${verb}, ${g.segmentsKept} kept)`,
      );
    const s = report.log.summary;
    lines.push(
      `Log: ${s.segmentsKept} segments kept, ${s.segmentsDeleted} ${verb} (${mib(s.bytesFreed)} MiB), ${s.generationsDeleted} of ${report.log.generations.length} generations ${verb}.`,
    );
  }
  if (!report.dryRun) lines.push(`${report.deleted.length} objects deleted${report.failed.length ? `, ${report.failed.length} deletions failed` : ""}.`);
  return lines;
}

export const retentionCommand: Command = {
  name: "retention",
  summary: "Apply the retention policy (keep last N + daily/weekly/monthly); --dry-run shows what it would delete and why.",
  usage:
    "lifeboat-agent retention --dry-run | --yes [--json]\n\n" +
    "Only complete Lifeboat sets at the top of the store are ever deleted; seed sets, incomplete sets, sets in folders below it and the newest complete set never are.\n" +
    "Log segments (continuous protection) go when no kept base needs them; an old generation with no kept base goes whole.\n" +
    "Without --dry-run, deleting needs --yes (or a yes on a terminal).",
  options: { flags: ["--dry-run", "--yes", "--json"] },
  async run(args, deps, io) {
    const a = readArgs(retentionCommand, args, io);
    if (!a) return 2;
    const dryRun = a.has("--dry-run");
    const { runRetention } = await import("../backup/retention-run");
    const store = deps.store();
    let confirmed: Set<string> | undefined;
    if (!dryRun && !a.has("--yes")) {
      const plan = await runRetention(store, deps.config.retention, { dryRun: true });
      confirmed = new Set(plan.sets.filter((d) => d.action === "delete").map((d) => d.setId));
      const segments = plan.log?.summary.segmentsDeleted ?? 0;
      const any = plan.summary.delete > 0 || plan.log?.generations.some((g) => g.keys.length > 0);
      if (any) for (const l of describe(plan)) io.err(l);
      if (any && !(await io.confirm(`Delete ${plan.summary.delete} sets and ${segments} log segments from ${store.description}?`))) {
        io.err("Nothing deleted. Pass --yes to delete without asking, or --dry-run to only look.");
        return 2;
      }
    }
    const report = await runRetention(store, deps.config.retention, {
      dryRun,
      log: deps.log.child({ component: "retention" }),
      stateDir: deps.config.stateDir,
      confirmed,
    });
    if (a.has("--json")) io.out(JSON.stringify(report, null, 2));
    else for (const l of describe(report)) io.out(l);
    return report.failed.length ? 1 : 0;
  },
};
