import { existsSync } from "node:fs";
import path from "node:path";
import { parseObjectName, parseSetId } from "../../lib/contracts/backup-names";
import { PointTime, type RestoreRecord, type RestoreSource } from "../../lib/contracts/agent-restore";
import type { AgentDeps } from "../module";
import type { Command, CommandIo } from "./command";
import { type ParsedArgs, readArgs, usageError } from "./args";

/** `recovery:<id>`, a set id, an existing local file, or an object key under AWS_S3_PATH. */
export function parseRestoreSource(arg: string): RestoreSource | null {
  if (arg.startsWith("recovery:")) return { kind: "recovery", id: arg.slice("recovery:".length) };
  if (arg.startsWith("file:")) return { kind: "file", path: path.resolve(arg.slice("file:".length)) };
  if (parseSetId(arg)) return { kind: "backup", setId: arg };
  if (existsSync(arg)) return { kind: "file", path: path.resolve(arg) };
  if (parseObjectName(arg)) return { kind: "object", key: arg };
  return null;
}

/** Waits for a job, printing each step on stderr as it finishes (a terminal or a CronJob log tells the story). */
export async function followJob(deps: AgentDeps, io: CommandIo, jobId: string, done: Promise<unknown>): Promise<void> {
  const printed = new Set<string>();
  let lastPct = -1;
  const report = () => {
    const job = deps.jobs.get(jobId);
    if (!job) return;
    if (job.step === "stage" && job.bytesTotal) {
      const pct = Math.floor((100 * job.bytesDone) / job.bytesTotal / 10) * 10;
      if (pct > lastPct && pct < 100) io.err(`  ${pct} % of ${(job.bytesTotal / 1e6).toFixed(1)} MB`);
      lastPct = Math.max(lastPct, pct);
    }
    for (const s of job.steps) {
      if ((s.state === "done" || s.state === "failed") && !printed.has(s.name)) {
        printed.add(s.name);
        io.err(`${s.label}: ${s.state}${s.detail ? ` (${s.detail})` : ""}`);
      }
    }
  };
  const timer = setInterval(report, 200);
  await done.finally(() => clearInterval(timer));
  report();
}

function describeRecord(r: RestoreRecord): string[] {
  const lines = [`Source: ${r.sourceDescription}`];
  const v = r.verification;
  if (v?.stats) lines.push(`Backup: revision ${v.stats.currentRevision}, ${v.stats.rowCount} rows, integrity_check ok; ${v.token.message}`);
  for (const w of v?.warnings ?? []) lines.push(`Warning: ${w}`);
  if (r.diff) lines.push(r.diff.summary);
  else if (r.diffError) lines.push(r.diffError);
  return lines;
}

/**
 * --to-revision N / --to-time T as the request's fields; a sentence when they are wrong; null when neither
 * is given. The time is checked as POST /restores checks it (PointTime): a date the calendar does not
 * have, or a time without its offset, is refused rather than moved to another day or to the host's zone.
 */
export function parsePoint(args: Pick<ParsedArgs, "value">): { toRevision?: number; toTime?: string } | string | null {
  const rev = args.value("--to-revision");
  const time = args.value("--to-time");
  if (rev === undefined && time === undefined) return null;
  if (rev !== undefined && time !== undefined) return "Give --to-revision or --to-time, not both.";
  if (rev !== undefined) return /^[1-9]\d*$/.test(rev) ? { toRevision: Number(rev) } : `--to-revision needs a revision number (kine's id), got "${rev}".`;
  if (!PointTime.safeParse(time).success)
    return `--to-time needs an ISO time with seconds and its offset, on a date the calendar has, such as 2026-12-03T14:32:10Z or 2026-12-03T15:32:10+01:00; got "${time}".`;
  return { toTime: new Date(time!).toISOString() };
}

export const restoreCommand: Command = {
  name: "restore",
  summary: "Restore the datastore from a backup set, an object, a recovery or a file (staged, verified, journaled).",
  usage:
    "lifeboat-agent restore <set id | latest | object key | recovery:<id> | file> [--dry-run] [--yes] [--no-token] [--cred] [--tls]\n" +
    "lifeboat-agent restore <set id | latest> [--to-revision N | --to-time <ISO time>] [--dry-run] [--yes] …\n" +
    "lifeboat-agent restore --list | --status <id> | --cancel <id> | --done <id>\n\n" +
    "Stages (download, decrypt, decompress, unpack), verifies (integrity_check, kine, token fits the\n" +
    "bootstrap data) and shows what restoring loses; then, after you answer yes (or with --yes), stops k3s\n" +
    "(LIFEBOAT_K3S_STOP_CMD), moves db/ aside to db.before-restore-<ts>, puts the restored db/ (and token)\n" +
    "in place owned by LIFEBOAT_OWNER with 0600/0700, and starts k3s. --dry-run stops after verifying (a\n" +
    "restore drill). --no-token keeps the host's token; --cred and --tls also restore cred/ and tls/.\n" +
    "--to-revision/--to-time: continuous protection's point in time: the newest base set of the log's\n" +
    "generation at or below the point, brought forward with the log's segments (docs/continuous.md).\n" +
    "Prints the restore's record as JSON on stdout, progress on stderr. Undo with `lifeboat-agent rollback`.",
  options: {
    flags: ["--dry-run", "--yes", "--no-token", "--cred", "--tls", "--list"],
    values: ["--to-revision", "--to-time", "--status", "--cancel", "--done"],
    positionals: 1,
    alone: ["--list", "--status", "--cancel", "--done"],
  },
  async run(args, deps, io) {
    const a = readArgs(restoreCommand, args, io);
    if (!a) return 2;
    const runner = await import("../restore/runner");
    const flag = (f: string) => a.has(f);
    if (flag("--list")) {
      io.out(JSON.stringify({ restores: await runner.listRestores(deps) }, null, 2));
      return 0;
    }
    for (const [f, fn] of [
      ["--status", (id: string) => runner.getRestore(deps, id)],
      ["--cancel", (id: string) => runner.cancelRestore(deps, id)],
      ["--done", (id: string) => runner.markRestoreDone(deps, id)],
    ] as const) {
      const id = a.value(f);
      if (id === undefined) continue;
      if (!id) return usageError(restoreCommand, io, `${f} needs a restore id.`);
      io.out(JSON.stringify(await fn(id), null, 2));
      return 0;
    }
    const point = parsePoint(a);
    if (typeof point === "string") {
      io.err(point);
      return 2;
    }
    const positional = a.positionals;
    if (positional.length !== 1) return usageError(restoreCommand, io, "Name one thing to restore.");
    const source: RestoreSource | null = positional[0] === "latest" ? { kind: "backup", setId: "latest" } : parseRestoreSource(positional[0]);
    if (!source) {
      io.err(
        `"${positional[0]}" is not a backup set id (lifeboat-2024-12-18_00-00-00), an object name (k3s_db_…, state_…, lifeboat_…), recovery:<id>, or a file on this host.`,
      );
      return 2;
    }
    // A restore a dead agent left behind comes first.
    for (const r of await runner.resumeInterrupted(deps)) io.err(`Restore ${r.id}, interrupted earlier: ${r.status}. ${r.targetState}`);

    const dryRun = flag("--dry-run");
    const { restoreId, jobId, done } = await runner.startRestore(deps, {
      source,
      dryRun,
      include: { token: !flag("--no-token"), cred: flag("--cred"), tls: flag("--tls") },
      confirm: flag("--yes") && !dryRun,
      compareWithLive: true,
      ...point,
    });
    io.err(`Restore ${restoreId}: ${dryRun ? "drill (stage and verify only)" : "staging"}…`);
    await followJob(deps, io, jobId, done);
    let rec = runner.getRestore(deps, restoreId);
    if (rec.status === "awaiting-confirmation") {
      for (const l of describeRecord(rec)) io.err(l);
      const yes = await io.confirm(`Stop k3s (\`${deps.config.k3sStopCmd}\`), move db/ aside and put this backup in place?`);
      if (!yes) {
        rec = await runner.cancelRestore(deps, restoreId);
        io.err("Cancelled: nothing on the server changed. (Without a terminal, pass --yes to go on.)");
        io.out(JSON.stringify(rec, null, 2));
        return 1;
      }
      const next = runner.confirmRestore(deps, restoreId);
      await followJob(deps, io, next.jobId, next.done);
      rec = runner.getRestore(deps, restoreId);
    } else if (dryRun && rec.status === "succeeded") for (const l of describeRecord(rec)) io.err(l);
    io.err(rec.error ? `error: ${rec.error}` : rec.targetState);
    io.out(JSON.stringify(rec, null, 2));
    return rec.status === "succeeded" ? 0 : 1;
  },
};
