"use client";

import { useState } from "react";
import { useQuery } from "@tanstack/react-query";
import { Banner } from "@/components/ui/banner";
import { Button } from "@/components/ui/button";
import { formatNumber, formatTime } from "@/components/ui/format";
import type { LogTimeline, TimelineChange, TimelinePoint } from "@/lib/contracts/continuous";
import type { WizardCandidate } from "@/lib/restore/contracts";
import { timelineQuery } from "./queries";

/** Points shown at once (newest first); "Show older" adds as many again. */
const PAGE = 40;

const objectName = (c: Pick<TimelineChange, "kind" | "namespace" | "name">) => [c.kind, c.namespace, c.name].filter(Boolean).join("/");

const CHANGE_TONE: Record<TimelineChange["change"], string> = {
  created: "bg-emerald-100 text-emerald-900",
  updated: "bg-sky-100 text-sky-900",
  deleted: "bg-red-100 text-red-900",
};

function PointRow({ p, filter, busy, onPick }: { p: TimelinePoint; filter: string; busy: boolean; onPick: (toRevision: number, label: string) => void }) {
  const changes = [...p.changes].reverse().filter((c) => !filter || objectName(c).toLowerCase().includes(filter));
  const at = formatTime(p.readAt, { seconds: true });
  return (
    <li data-testid="timeline-point" data-last={p.last} className={`py-2 ${p.reachable ? "" : "opacity-70"}`}>
      <div className="flex flex-wrap items-center justify-between gap-2 text-sm">
        <span>
          <span className="font-medium text-slate-900">{at}</span>{" "}
          <span className="text-xs text-slate-500">
            revisions {formatNumber(p.first)}–{formatNumber(p.last)}
            {p.churn > 0 && ` · ${formatNumber(p.churn)} lease/event renewals`}
            {p.changesOmitted > 0 && ` · ${formatNumber(p.changesOmitted)} more changes not listed`}
          </span>
          {p.state === "damaged" && <span className="ml-2 text-xs font-semibold text-red-800">damaged segment: its revisions are lost</span>}
          {p.state !== "damaged" && !p.reachable && <span className="ml-2 text-xs font-semibold text-amber-800">after a gap: cannot be reached</span>}
          {p.compacted && <span className="ml-2 text-xs text-slate-500">folded by log compaction: restores only to its end, not to a change inside</span>}
        </span>
        {p.reachable && p.state === "read" && (
          <Button
            variant="secondary"
            disabled={busy}
            onClick={() => onPick(p.last, `the point read at ${at}`)}
            aria-label={`Restore to the point read at ${at}`}
          >
            Restore to this point
          </Button>
        )}
      </div>
      {changes.length > 0 && (
        <ul className="mt-1 space-y-1 pl-3">
          {changes.map((c) => (
            <li key={c.revision} className="flex flex-wrap items-center gap-2 text-sm" data-testid="timeline-change">
              <span className={`rounded px-1.5 py-0.5 text-xs font-semibold ${CHANGE_TONE[c.change]}`}>{c.change}</span>
              <span className="font-mono text-xs text-slate-800">{objectName(c)}</span>
              <span className="text-xs text-slate-500">rev {formatNumber(c.revision)}</span>
              {p.reachable && (!p.compacted || c.revision === p.first) && (
                <Button
                  variant="ghost"
                  disabled={busy}
                  onClick={() => onPick(c.revision - 1, `just before ${objectName(c)} was ${c.change}`)}
                  aria-label={`Restore to just before ${objectName(c)} was ${c.change} (revision ${c.revision - 1})`}
                >
                  Restore to just before this change
                </Button>
              )}
            </li>
          ))}
        </ul>
      )}
    </li>
  );
}

function Summary({ t }: { t: LogTimeline }) {
  return (
    <div className="space-y-2 text-sm text-slate-700">
      <p>
        Generation <span className="font-mono text-xs">{t.generation}</span> from the base <span className="font-mono text-xs">{t.baseSetId}</span> (revision{" "}
        {formatNumber(t.baseRevision ?? 0)}); the log reaches revision {formatNumber(t.logEnd ?? 0)}
        {t.logEndAt ? `, read ${formatTime(t.logEndAt, { seconds: true })}` : ""}. Times are when the agent read each batch of revisions: a change happened at
        or before it.
      </p>
      {t.gaps.map((g) => (
        <Banner key={g.lostFrom} tone="warning" title={`Revisions ${formatNumber(g.lostFrom)}–${formatNumber(g.lostTo)} are lost`}>
          {g.why} A restore cannot go past revision {formatNumber(t.newestReachable?.revision ?? g.lostFrom - 1)}.
        </Banner>
      ))}
      {t.stopped && <p className="text-xs text-slate-500">{t.stopped}</p>}
    </div>
  );
}

/**
 * The "point in time" choice of step 2: the log's points after the newest base, newest first, with
 * the objects changed in each (names only), filtered by name. "Restore to just before this change"
 * picks the change's revision − 1; the choice goes to the wizard as `toRevision`.
 */
export function PointTimeline({ busy, onChoose, targetIsNew }: { busy: boolean; onChoose: (c: WizardCandidate) => void; targetIsNew: boolean }) {
  const q = useQuery({ ...timelineQuery("latest"), enabled: !targetIsNew });
  const [filter, setFilter] = useState("");
  const [shown, setShown] = useState(PAGE);
  const [quiet, setQuiet] = useState(false);
  const t = q.data;
  if (targetIsNew)
    return (
      <p className="text-sm text-slate-600" data-testid="no-point-in-time">
        The log&apos;s timeline is read through this dashboard&apos;s configured agent; for a new machine restore a whole set here, or a point with{" "}
        <code>lifeboat-agent restore latest --to-revision N</code> on it.
      </p>
    );
  if (q.error)
    return (
      <p className="text-sm text-amber-900" data-testid="no-point-in-time">
        The log&apos;s timeline could not be read: {(q.error as Error).message}
      </p>
    );
  if (!t) return <p className="text-sm text-slate-500">Reading the log…</p>;
  if (!t.available)
    return (
      <p className="text-sm text-slate-600" data-testid="no-point-in-time">
        No point in time to offer: {t.why}
      </p>
    );
  const f = filter.trim().toLowerCase();
  // Most points only renew leases (every few seconds): they are hidden unless asked for, or damaged.
  const points = [...t.points]
    .reverse()
    .filter((p) => (f ? p.changes.some((c) => objectName(c).toLowerCase().includes(f)) : quiet || p.changes.length > 0 || p.state !== "read"));
  const pick = (toRevision: number, pointLabel: string) => onChoose({ kind: "backup", setId: t.setId, toRevision, pointLabel });
  return (
    <div className="space-y-3" data-testid="point-timeline">
      <Summary t={t} />
      <label className="flex items-center gap-2 text-sm">
        <span className="text-slate-600">Filter by name</span>
        <input
          type="search"
          value={filter}
          onChange={(e) => setFilter(e.target.value)}
          placeholder="e.g. deployments/default/web"
          className="w-72 rounded-md border border-slate-300 px-2 py-1 font-mono text-xs"
        />
      </label>
      <label className="flex items-center gap-2 text-sm text-slate-600">
        <input type="checkbox" checked={quiet} onChange={(e) => setQuiet(e.target.checked)} /> Show points with only lease and event renewals
      </label>
      {points.length === 0 ? (
        <p className="text-sm text-slate-500">{f ? "No point changes an object by that name." : "No point after the base yet."}</p>
      ) : (
        <ol className="max-h-[32rem] divide-y divide-slate-100 overflow-y-auto rounded-md border border-slate-200 px-3">
          {points.slice(0, shown).map((p) => (
            <PointRow key={p.segment} p={p} filter={f} busy={busy} onPick={pick} />
          ))}
        </ol>
      )}
      {points.length > shown && (
        <Button variant="secondary" onClick={() => setShown(shown + PAGE)}>
          Show older points ({formatNumber(points.length - shown)})
        </Button>
      )}
    </div>
  );
}
