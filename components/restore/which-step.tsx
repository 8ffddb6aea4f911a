"use client";

import { useState } from "react";
import Link from "next/link";
import { useQuery } from "@tanstack/react-query";
import { AnomalyBadges } from "@/components/ui/anomaly-badges";
import { VerificationBadge } from "@/components/ui/verification-badge";
import { Banner } from "@/components/ui/banner";
import { Button } from "@/components/ui/button";
import { Card } from "@/components/ui/card";
import { formatAge, formatBytes, formatNumber, formatTime } from "@/components/ui/format";
import type { KineSoundness, RecoveryReport } from "@/lib/contracts/agent-recovery";
import { stuckCompactionNote } from "@/lib/restore/proposal";
import type { CandidateSet } from "@/lib/restore/contracts";
import { PointTimeline } from "./point-timeline";
import { candidatesQuery } from "./queries";
import type { StepProps } from "./where-step";

const PAGE = 20;

function SetRow({ c, proposed, busy, onChoose, now }: { c: CandidateSet; proposed: boolean; busy: boolean; onChoose: () => void; now: Date }) {
  const s = c.set;
  const stuck = stuckCompactionNote(c.stats);
  return (
    <tr data-set-id={s.id} className={proposed ? "bg-emerald-50/70" : "hover:bg-slate-50"}>
      <td className="whitespace-nowrap px-3 py-2">
        <Link href={`/backups/${s.id}`} target="_blank" className="font-medium text-blue-800 hover:underline">
          {formatTime(s.timestamp)}
        </Link>
        <span className="block text-xs text-slate-500">
          {formatAge(s.timestamp, now)} · {s.format === "seed" ? "CronJob" : "Lifeboat"}
          {proposed && <span className="ml-1 font-semibold text-emerald-800">· proposed</span>}
        </span>
      </td>
      <td className="whitespace-nowrap px-3 py-2 text-right tabular-nums">{formatBytes(s.objects.reduce((n, o) => n + o.size, 0))}</td>
      <td className="whitespace-nowrap px-3 py-2 text-xs text-slate-700">
        {c.stats ? (
          <>
            rev {formatNumber(c.stats.currentRevision)} · {formatNumber(c.stats.rowCount)} rows
            <span className={`block ${stuck ? "text-amber-800" : "text-slate-500"}`} title={stuck ?? undefined}>
              compaction lag {formatNumber(c.stats.compactionLag)}
              {stuck ? " (stuck)" : ""}
            </span>
          </>
        ) : (
          <span className="text-slate-400">not opened yet</span>
        )}
      </td>
      <td className="px-3 py-2">
        <AnomalyBadges anomalies={s.anomalies} />
      </td>
      <td className="px-3 py-2">
        <VerificationBadge verification={s.verification} />
      </td>
      <td className="px-3 py-2 text-right">
        <Button variant={proposed ? "primary" : "secondary"} onClick={onChoose} disabled={busy} aria-label={`Choose the backup of ${formatTime(s.timestamp)}`}>
          Choose
        </Button>
      </td>
    </tr>
  );
}

/** What the kine check did to one rung's result, in one line. */
function soundnessLine(s: KineSoundness): string {
  return `kine check: ${formatNumber(s.checked)} rows against kine's own copies — ${formatNumber(s.confirmed)} confirmed, ${formatNumber(s.unverifiable)} without a second copy, ${formatNumber(s.repaired)} repaired, ${formatNumber(s.dropped)} dropped`;
}

/** The rows the kine check dropped from the chosen result, by key and revision, and why. */
function DroppedRows({ s }: { s: KineSoundness }) {
  if (!s.dropped && !s.repaired) return null;
  return (
    <details data-testid="kine-check-rows" className="rounded-md border border-slate-200 bg-slate-50 px-3 py-2 text-xs text-slate-700">
      <summary className="cursor-pointer font-medium">
        Rows the kine check changed: {formatNumber(s.repaired)} repaired, {formatNumber(s.dropped)} dropped
      </summary>
      <ul className="mt-2 space-y-1">
        {s.droppedRows.map((d) => (
          <li key={`d${d.revision}`}>
            <span className="font-semibold text-red-800">dropped</span> <span className="font-mono">{d.key}</span> @ {d.revision}: {d.reason}
          </li>
        ))}
        {s.repairedRows.map((r) => (
          <li key={`r${r.revision}`}>
            <span className="font-semibold text-emerald-800">repaired</span> <span className="font-mono">{r.key}</span> @ {r.revision}:{" "}
            {r.columns.join(" and ")} from revision {r.from}
          </li>
        ))}
        {s.truncated && <li className="text-slate-500">… the list stops at 200 rows.</li>}
      </ul>
    </details>
  );
}

function RecoveryResult({ report }: { report: RecoveryReport }) {
  const best = report.best ? report.rungs.find((r) => r.name === report.best!.rung) : undefined;
  return (
    <div data-testid="recovery-report" className="space-y-2 text-sm">
      <ol className="space-y-1">
        {report.rungs.map((r) => (
          <li key={r.name} className="flex gap-2">
            <span
              className={`w-16 shrink-0 text-xs font-semibold uppercase ${r.state === "ok" ? "text-emerald-700" : r.state === "failed" ? "text-red-700" : r.state === "partial" ? "text-amber-800" : "text-slate-400"}`}
            >
              {r.state}
            </span>
            <span>
              <span className="font-medium">{r.label}</span>
              {r.rows !== null && ` — ${formatNumber(r.rows)} rows`}
              {r.revisions && `, revisions ${formatNumber(r.revisions.min)}–${formatNumber(r.revisions.max)}`}
              {r.integrity && `, integrity ${r.integrity}`}
              {(r.skippedReason || r.error || r.note) && <span className="block text-xs text-slate-600">{r.skippedReason ?? r.error ?? r.note}</span>}
              {r.soundness && (
                <span className="block text-xs text-slate-600" data-testid={`soundness-${r.name}`}>
                  {soundnessLine(r.soundness)}
                </span>
              )}
            </span>
          </li>
        ))}
      </ol>
      {best?.soundness && <DroppedRows s={best.soundness} />}
      {report.comparison.diff && <p className="text-slate-700">{report.comparison.diff.summary}</p>}
      {report.comparison.error && <p className="text-amber-900">{report.comparison.error}</p>}
      <p className="font-medium text-slate-800">{report.recommendation}</p>
    </div>
  );
}

/**
 * Step 2, Which backup: the proposal and why, a point in time of the log (point-timeline.tsx), the
 * sets newest first with their drill result, size flags and statistics, and — when the live database
 * is still there — a recovery attempt as another candidate.
 */
export function WhichStep({ view, busy, act }: StepProps) {
  const [offset, setOffset] = useState(0);
  const q = useQuery(candidatesQuery(offset));
  const now = new Date();
  const s = view.state;
  const data = q.data;
  const proposal = data?.proposal ?? null;
  const rv = s.recovery;
  const dbThere = s.health?.files.db.exists ?? false;
  const choose = (setId: string) => act({ action: "choose", candidate: { kind: "backup", setId } });

  return (
    <div className="space-y-4">
      {q.error && (
        <Banner tone="error" title="The backups could not be listed">
          {(q.error as Error).message}
        </Banner>
      )}
      <Card title="2. Which backup?">
        {!data ? (
          <p className="text-sm text-slate-500">Reading the catalog…</p>
        ) : proposal ? (
          <div data-testid="proposal" className="rounded-md border border-emerald-300 bg-emerald-50 p-4 text-sm">
            <p className="text-xs font-semibold uppercase tracking-wide text-emerald-800">Lifeboat proposes</p>
            <p className="mt-1 text-base font-semibold text-slate-900">{proposal.reason}</p>
            <p className="font-mono text-xs text-slate-600">{proposal.setId}</p>
            {proposal.warnings.length > 0 && (
              <ul className="mt-2 list-disc space-y-0.5 pl-5 text-amber-900">
                {proposal.warnings.map((w) => (
                  <li key={w}>{w}</li>
                ))}
              </ul>
            )}
            {proposal.skipped.length > 0 && (
              <details className="mt-2 text-slate-700">
                <summary className="cursor-pointer">Why not a newer one? ({proposal.skipped.length})</summary>
                <ul className="mt-1 space-y-0.5 pl-4">
                  {proposal.skipped.map((k) => (
                    <li key={k.setId}>
                      <span className="font-mono text-xs">{k.setId}</span>: {k.why}
                    </li>
                  ))}
                </ul>
              </details>
            )}
            <Button className="mt-3" onClick={() => choose(proposal.setId)} disabled={busy}>
              Use the proposed backup →
            </Button>
          </div>
        ) : (
          <Banner tone="warning" title="No proposal">
            {data.noProposal}
          </Banner>
        )}
      </Card>

      <Card title="Or: a point in time">
        <div className="space-y-2">
          <p className="text-sm text-slate-700">
            Continuous protection ships every change of the datastore as it happens: restore the newest backup brought forward to any point of its log — for
            example just before a Deployment was deleted.
          </p>
          <PointTimeline busy={busy} targetIsNew={s.target?.kind === "new"} onChoose={(candidate) => act({ action: "choose", candidate })} />
        </div>
      </Card>

      {dbThere && (
        <Card title="Or: recover the live database">
          <div className="space-y-3 text-sm">
            <p className="text-slate-700">
              The live database is still on the target. The recovery ladder (integrity_check, .dump, .recover, Lifeboat&apos;s page-level salvage) works on a
              copy and may keep changes newer than any backup. Its best result becomes a candidate like a backup.
            </p>
            {!rv && (
              <Button variant="secondary" onClick={() => act({ action: "start-recovery" })} disabled={busy}>
                Try a recovery of the live database
              </Button>
            )}
            {rv && !rv.report && !rv.error && <p className="animate-pulse text-blue-800">The recovery ladder is running on a copy of the live database…</p>}
            {rv?.error && (
              <>
                <p className="text-red-800">{rv.error}</p>
                <Button variant="secondary" onClick={() => act({ action: "start-recovery" })} disabled={busy}>
                  Try again
                </Button>
              </>
            )}
            {rv?.report && (
              <>
                <RecoveryResult report={rv.report} />
                {rv.report.best ? (
                  <Button variant="secondary" onClick={() => act({ action: "choose", candidate: { kind: "recovery", id: rv.recoveryId } })} disabled={busy}>
                    Restore the recovered database ({formatNumber(rv.report.best.rows)} rows) →
                  </Button>
                ) : (
                  <p className="text-slate-700">Nothing usable was recovered: choose a backup.</p>
                )}
              </>
            )}
          </div>
        </Card>
      )}

      <Card title={data ? `All backups (${formatNumber(data.total)})` : "All backups"}>
        {data && (
          <div className="relative -mx-4 overflow-x-auto">
            <table className="w-full text-left text-sm" data-testid="candidate-sets">
              <thead className="border-b border-slate-200 text-xs uppercase tracking-wide text-slate-500">
                <tr>
                  <th scope="col" className="px-3 py-2 font-medium">
                    Taken
                  </th>
                  <th scope="col" className="px-3 py-2 text-right font-medium">
                    Size
                  </th>
                  <th scope="col" className="px-3 py-2 font-medium">
                    Database
                  </th>
                  <th scope="col" className="px-3 py-2 font-medium">
                    Flags
                  </th>
                  <th scope="col" className="px-3 py-2 font-medium">
                    Restore drill
                  </th>
                  <th scope="col" className="px-3 py-2" />
                </tr>
              </thead>
              <tbody className="divide-y divide-slate-100">
                {data.sets.map((c) => (
                  <SetRow key={c.set.id} c={c} proposed={c.set.id === proposal?.setId} busy={busy} onChoose={() => choose(c.set.id)} now={now} />
                ))}
              </tbody>
            </table>
          </div>
        )}
        {data && data.total > PAGE && (
          <div className="mt-3 flex items-center justify-between text-sm text-slate-600">
            <span>
              {offset + 1}–{Math.min(data.total, offset + PAGE)} of {formatNumber(data.total)}
            </span>
            <span className="flex gap-2">
              <Button variant="secondary" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - PAGE))}>
                ← Newer
              </Button>
              <Button variant="secondary" disabled={offset + PAGE >= data.total} onClick={() => setOffset(offset + PAGE)}>
                Older →
              </Button>
            </span>
          </div>
        )}
      </Card>
      <div>
        <Button variant="ghost" onClick={() => act({ action: "back", to: "where" })} disabled={busy}>
          ← Change the target
        </Button>
      </div>
    </div>
  );
}
