import type { ReactNode } from "react";
import { Badge } from "@/components/ui/badge";
import { Banner } from "@/components/ui/banner";
import { formatBytes, formatNumber, formatTime } from "@/components/ui/format";
import type { HealthReport } from "@/lib/contracts/agent-health";
import type { AgentProblem } from "@/lib/restore/contracts";

const VERDICT_TONE = { ok: "ok", warning: "warning", critical: "critical" } as const;

type Level = "ok" | "note" | "warning" | "problem";
const ICONS: Record<Level, [string, string]> = {
  ok: ["✓", "bg-emerald-600"],
  note: ["i", "bg-slate-400"],
  warning: ["!", "bg-amber-500"],
  problem: ["!", "bg-red-600"],
};

function Check({ level, label, children }: { level: Level; label: string; children: ReactNode }) {
  const [icon, color] = ICONS[level];
  return (
    <li className="flex items-start gap-3 py-2" data-level={level}>
      <span aria-hidden className={`mt-0.5 flex h-5 w-5 shrink-0 items-center justify-center rounded-full text-xs font-semibold text-white ${color}`}>
        {icon}
      </span>
      <div className="min-w-0">
        <p className="font-medium text-slate-800">
          {label}
          <span className="sr-only">: {level}</span>
        </p>
        <div className="text-slate-600">{children}</div>
      </div>
    </li>
  );
}

/** The target as step 1 shows it: reachable, disk space for staging, k3s, the live database's health. */
export function HealthSummary({ url, report }: { url: string; report: HealthReport }) {
  const db = report.database;
  const disk = report.disk;
  const k3s = report.k3s;
  const ownBad = report.ownership.entries.filter((e) => !e.ok && e.exists);
  return (
    <div data-testid="target-health" className="space-y-3 text-sm">
      <ul className="divide-y divide-slate-100">
        <Check level="ok" label="Agent reachable">
          <span className="font-mono text-xs">{url}</span> answered at {formatTime(report.checkedAt, { seconds: true })} · server directory{" "}
          <span className="font-mono text-xs">{report.serverDir}</span>
        </Check>
        <Check level={disk.enoughForStaging ? "ok" : "problem"} label="Disk space for staging">
          {formatBytes(disk.freeBytes)} free of {formatBytes(disk.totalBytes)} in <span className="font-mono text-xs">{disk.stagingDir}</span>; a restore needs
          about {formatBytes(disk.neededForStaging)}.{" "}
          {disk.sameFilesystemAsServer
            ? "Same filesystem as the server directory: the swap is a rename."
            : "Not on the server directory's filesystem: the swap will copy."}
        </Check>
        <Check
          level={k3s.running ? "ok" : k3s.present ? "note" : "warning"}
          label={`k3s ${k3s.present ? (k3s.running ? "is running" : `is ${k3s.state}`) : "service not found"}`}
        >
          <span className="font-mono text-xs">{k3s.command}</span> says “{k3s.state}”.
          {k3s.dbHolders.length > 0 && ` Holding the database: ${k3s.dbHolders.map((h) => `${h.name} (pid ${h.pid})`).join(", ")}.`}
          {!k3s.present && " On a new machine, install k3s first (curl -sfL https://get.k3s.io | sh -) so the restore can stop and start it."}
        </Check>
        <Check level={report.verdict === "ok" ? "ok" : report.verdict === "critical" ? "problem" : "warning"} label="Current database">
          <span className="mr-2">
            <Badge tone={VERDICT_TONE[report.verdict]}>{report.verdict}</Badge>
          </span>
          {report.files.db.exists ? (
            <>
              state.db {formatBytes(report.files.db.bytes ?? 0)}
              {report.files.wal.exists ? `, -wal ${formatBytes(report.files.wal.bytes ?? 0)}` : ""} · quick_check{" "}
              {report.quickCheck.ran ? (report.quickCheck.ok ? "ok" : `failed: ${report.quickCheck.messages.slice(0, 2).join("; ")}`) : "did not run"}
              {db.error ? ` · ${db.error}` : ""}
              {report.kine &&
                ` · revision ${formatNumber(report.kine.currentRevision)}, ${formatNumber(report.kine.rowCount)} rows, compaction lag ${formatNumber(report.kine.compactionLag)}`}
            </>
          ) : (
            "There is no database yet (a new machine): the restore puts one in place."
          )}
        </Check>
      </ul>
      {report.reasons.length > 0 && (
        <ul className="space-y-1 rounded-md bg-slate-50 p-3" aria-label="Findings">
          {report.reasons.map((r) => (
            <li key={r.code + r.message} className={r.level === "critical" ? "text-red-800" : r.level === "warning" ? "text-amber-900" : "text-slate-700"}>
              <span className="font-medium">{r.level}:</span> {r.message}
              {r.fix && <code className="mt-0.5 block break-all rounded bg-white px-1.5 py-0.5 text-xs text-slate-700">{r.fix}</code>}
            </li>
          ))}
        </ul>
      )}
      {ownBad.length > 0 && (
        <p className="text-xs text-slate-600">
          A restore sets the owner and mode of everything it puts in place, which also fixes the ownership findings above.
        </p>
      )}
      {report.pendingRestoreId && (
        <Banner tone="warning" title="The agent has a restore that is not finished">
          Restore <span className="font-mono">{report.pendingRestoreId}</span> is waiting for confirmation, running or was interrupted. Staging another one is
          refused until it is confirmed or cancelled (<code>lifeboat-agent rollback</code> / the agent&apos;s log).
        </Banner>
      )}
    </div>
  );
}

/** The agent could not be asked: which URL, what failed, what to check. */
export function AgentProblemBanner({ problem, title }: { problem: AgentProblem; title?: string }) {
  return (
    <div data-testid="agent-problem">
      <Banner
        tone={problem.code === "agent_slow" ? "warning" : "error"}
        title={
          title ??
          (problem.code === "agent_unreachable"
            ? "The agent does not answer"
            : problem.code === "agent_slow"
              ? "The agent runs but answers slowly (busy)"
              : "The agent cannot be used")
        }
      >
        <p>{problem.message}</p>
        <p className="mt-1">
          <span className="font-medium">What to check:</span> {problem.hint}
        </p>
        <p className="mt-1 text-xs opacity-80">Tried at {formatTime(problem.at)}.</p>
      </Banner>
    </div>
  );
}
