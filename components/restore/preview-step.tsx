"use client";

import { useState } from "react";
import { AnomalyBadges } from "@/components/ui/anomaly-badges";
import { VerificationBadge } from "@/components/ui/verification-badge";
import { Banner } from "@/components/ui/banner";
import { Button } from "@/components/ui/button";
import { Card } from "@/components/ui/card";
import { formatAge, formatBytes, formatNumber, formatTime } from "@/components/ui/format";
import { KIND_LABELS } from "@/lib/contracts/backup-names";
import { stuckCompactionNote } from "@/lib/restore/proposal";
import type { StepProps } from "./where-step";

function Fact({ label, children }: { label: string; children: React.ReactNode }) {
  return (
    <div className="flex justify-between gap-4 border-b border-slate-100 py-1.5 text-sm">
      <dt className="text-slate-600">{label}</dt>
      <dd className="text-right font-medium tabular-nums text-slate-800">{children}</dd>
    </div>
  );
}

/**
 * Step 3, Preview: what the chosen backup holds (from its manifest, or what its restore drill read),
 * next to the live database. The exact list of what restoring loses comes from the agent once it has
 * staged the backup (step 4) and is shown again before confirming.
 */
export function PreviewStep({ view, busy, act }: StepProps) {
  const s = view.state;
  const p = view.preview;
  const [include, setInclude] = useState(s.include);
  const live = s.health?.kine ?? null;
  const stats = p?.stats ?? null;
  const rv = s.candidate?.kind === "recovery" ? s.recovery?.report : null;
  const set = p?.set ?? null;
  const c = s.candidate;
  const point = c?.kind === "backup" && (c.toRevision !== undefined || c.toTime !== undefined) ? c : null;
  const stuck = stuckCompactionNote(stats);
  const now = new Date();

  return (
    <div className="space-y-4">
      <Card title="3. Preview">
        {point && (
          <div data-testid="point-preview" className={`${set ? "mb-4 " : ""}rounded-md border border-sky-300 bg-sky-50 p-3 text-sm`}>
            <p className="text-base font-semibold text-slate-900">
              A point in time: {point.toRevision !== undefined ? `revision ${formatNumber(point.toRevision)}` : formatTime(point.toTime!, { seconds: true })}
            </p>
            {point.pointLabel && <p className="text-slate-700">{point.pointLabel}</p>}
            <p className="mt-1 text-slate-600">
              {point.setId === "latest"
                ? "The agent takes the newest backup set of the log's generation at or below this point as the base"
                : `The agent takes ${point.setId} as the base`}{" "}
              and applies the log&apos;s segments up to it; staging then compares the result with the live database and lists what the point loses.
            </p>
          </div>
        )}
        {set ? (
          <div className="space-y-4" data-testid="backup-preview">
            <div className="flex flex-wrap items-start justify-between gap-3">
              <div>
                <p className="text-base font-semibold text-slate-900">Backup of {formatTime(set.timestamp)}</p>
                <p className="text-sm text-slate-600">
                  {formatAge(set.timestamp, now)} · {set.format === "seed" ? "made by the seed CronJob" : "made by the Lifeboat agent"} ·{" "}
                  <span className="font-mono text-xs">{set.id}</span>
                </p>
              </div>
              <span className="flex flex-wrap items-center gap-2">
                {set.anomalies.length > 0 && <AnomalyBadges anomalies={set.anomalies} />}
                <VerificationBadge verification={set.verification} withReason />
              </span>
            </div>
            <div className="grid gap-6 md:grid-cols-2">
              <dl>
                <Fact label="Revision">{stats ? formatNumber(stats.currentRevision) : "—"}</Fact>
                <Fact label="Rows / live objects">{stats ? `${formatNumber(stats.rowCount)} / ${formatNumber(stats.liveKeys)}` : "—"}</Fact>
                <Fact label="Compaction lag">{stats ? `${formatNumber(stats.compactionLag)} revisions` : "—"}</Fact>
                <Fact label="Database size">{stats ? formatBytes(stats.fileSize) : "—"}</Fact>
                <Fact label="k3s version">{stats?.k3sVersion ?? (set.format === "seed" ? "not recorded by the CronJob" : "—")}</Fact>
                <Fact label="Taken on">{stats?.host ?? "—"}</Fact>
                {set.objects.map((o) => (
                  <Fact key={o.key} label={KIND_LABELS[o.kind]}>
                    {formatBytes(o.size)}
                  </Fact>
                ))}
              </dl>
              <div>
                <h3 className="mb-1 text-xs font-semibold uppercase tracking-wide text-slate-500">Rows by resource type</h3>
                {stats?.topPrefixesByRows.length ? (
                  <table className="w-full text-sm">
                    <tbody>
                      {stats.topPrefixesByRows.slice(0, 10).map((r) => (
                        <tr key={r.prefix} className="border-b border-slate-100">
                          <td className="break-all py-1 font-mono text-xs">{r.prefix}</td>
                          <td className="py-1 text-right tabular-nums">{formatNumber(r.rows)}</td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                ) : (
                  <p className="text-sm text-slate-500">Not known yet.</p>
                )}
                <p className="mt-2 text-xs text-slate-500">
                  {stats
                    ? stats.from === "manifest"
                      ? "From the set's manifest (the agent's statistics of the verified snapshot)."
                      : "From this set's restore drill."
                    : "This set has not been opened yet (no manifest, no restore drill): the next step reads it."}
                </p>
              </div>
            </div>
            {stuck && <Banner tone="warning">{stuck}</Banner>}
          </div>
        ) : rv?.best ? (
          <div className="space-y-1 text-sm" data-testid="backup-preview">
            <p className="text-base font-semibold text-slate-900">The database recovered by the {rv.best.rung} rung</p>
            <p>
              {formatNumber(rv.best.rows)} rows
              {rv.best.revisions ? `, revisions ${formatNumber(rv.best.revisions.min)}–${formatNumber(rv.best.revisions.max)}` : ""}.
            </p>
            {rv.comparison.diff && <p className="text-slate-700">{rv.comparison.diff.summary}</p>}
            <p className="text-slate-700">{rv.recommendation}</p>
          </div>
        ) : point ? null : (
          <p className="text-sm text-red-800">The chosen backup is no longer in the catalog. Go back and choose another one.</p>
        )}
      </Card>

      <Card title="Compared with the live database">
        <div className="text-sm text-slate-700" data-testid="live-comparison">
          {live && stats ? (
            <p>
              The live database is at revision <span className="font-semibold">{formatNumber(live.currentRevision)}</span>; the backup at{" "}
              <span className="font-semibold">{formatNumber(stats.currentRevision)}</span>
              {live.currentRevision > stats.currentRevision
                ? `: restoring goes back ${formatNumber(live.currentRevision - stats.currentRevision)} revisions.`
                : ": the backup is not older than the live database."}
            </p>
          ) : live ? (
            <p>The live database is at revision {formatNumber(live.currentRevision)}.</p>
          ) : (
            <p>
              The live database cannot be read ({s.health?.database.error ?? s.health?.kineError ?? "no database on the target"}): there is nothing to compare.
            </p>
          )}
          <p className="mt-1">
            Staging (next step) compares the backup with the live database object by object and lists what restoring loses — deployments, config maps, … created
            or changed after the backup — before you confirm anything.
          </p>
        </div>
      </Card>

      <Card title="Put back besides the database">
        <fieldset className="flex flex-wrap gap-5 text-sm">
          <legend className="sr-only">Files to restore</legend>
          <label className="flex items-center gap-2">
            <input type="checkbox" checked={include.token} onChange={(e) => setInclude({ ...include, token: e.target.checked })} /> the token (when the backup
            holds one)
          </label>
          <label className="flex items-center gap-2">
            <input type="checkbox" checked={include.cred} onChange={(e) => setInclude({ ...include, cred: e.target.checked })} /> cred/
          </label>
          <label className="flex items-center gap-2">
            <input type="checkbox" checked={include.tls} onChange={(e) => setInclude({ ...include, tls: e.target.checked })} /> tls/
          </label>
        </fieldset>
        <p className="mt-2 text-xs text-slate-500">
          k3s cannot use a datastore without the token that encrypted its bootstrap data. A new machine needs the backup&apos;s token; cred/ and tls/ only when
          the old server&apos;s certificates should come back too.
        </p>
      </Card>

      <div className="flex items-center gap-3">
        <Button onClick={() => act({ action: "stage", include })} disabled={busy || (!set && !rv?.best && !point)}>
          {busy ? "Starting…" : `Stage and verify on ${s.target?.url ?? "the target"} →`}
        </Button>
        <Button variant="ghost" onClick={() => act({ action: "back", to: "which" })} disabled={busy}>
          ← Choose another backup
        </Button>
      </div>
    </div>
  );
}
