import type { ReactNode } from "react";
import { Banner } from "@/components/ui/banner";
import { formatBytes, formatNumber, formatTime } from "@/components/ui/format";
import type { ManifestState } from "@/lib/contracts/catalog";
import type { KeyPrefixStat } from "@/lib/contracts/manifest";

function Row({ label, children, hint }: { label: string; children: ReactNode; hint?: string }) {
  return (
    <div className="flex justify-between gap-4 border-b border-slate-100 py-1.5 text-sm">
      <dt className="text-slate-600" title={hint}>
        {label}
      </dt>
      <dd className="text-right font-medium tabular-nums">{children}</dd>
    </div>
  );
}

function Prefixes({ title, rows }: { title: string; rows: KeyPrefixStat[] }) {
  return (
    <div>
      <h3 className="mb-1 text-xs font-semibold uppercase tracking-wide text-slate-500">{title}</h3>
      <table className="w-full text-sm">
        <thead className="sr-only">
          <tr>
            <th>Key prefix</th>
            <th>Rows</th>
            <th>Bytes</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={r.prefix} className="border-b border-slate-100">
              <td className="break-all py-1 font-mono text-xs">{r.prefix}</td>
              <td className="py-1 text-right tabular-nums">{formatNumber(r.rows)} rows</td>
              <td className="py-1 pl-3 text-right tabular-nums">{formatBytes(r.bytes)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** The database statistics a Lifeboat manifest carries, or why there are none. */
export function ManifestStats({ state, format }: { state: ManifestState; format: "seed" | "lifeboat" }) {
  if (state.state === "absent") {
    return (
      <p className="text-sm text-slate-600">
        {format === "seed"
          ? "Sets made by the seed CronJob carry no manifest: their database statistics appear once a restore drill has opened the set (Verify now)."
          : "This set has no manifest: the agent writes it last, so the upload did not finish. Do not rely on this set."}
      </p>
    );
  }
  if (state.state !== "ok") {
    return (
      <Banner tone="warning" title={state.state === "invalid" ? "The manifest is not valid" : "The manifest could not be read"}>
        {state.message}
      </Banner>
    );
  }
  const m = state.manifest;
  const d = m.database;
  const deadShare = d.rowCount ? Math.round((d.uncompactedRows / d.rowCount) * 100) : 0;
  return (
    <div className="grid gap-6 md:grid-cols-2">
      <dl>
        <Row label="Database file">{formatBytes(d.fileSize)}</Row>
        <Row label="Pages (free)">
          {formatNumber(d.pageCount)} × {formatBytes(d.pageSize)} ({formatNumber(d.freelistCount)} free)
        </Row>
        <Row label="Rows in kine" hint="Counted by scanning the table">
          {formatNumber(d.rowCount)}
        </Row>
        <Row label="Live keys">{formatNumber(d.liveKeys)}</Row>
        <Row label="Current revision">{formatNumber(d.currentRevision)}</Row>
        <Row label="Compact revision">{formatNumber(d.compactRevision)}</Row>
        <Row label="Compaction lag" hint="Healthy: near 1000 plus one interval's writes">
          <span className={d.compactionLag > 10_000 ? "text-red-700" : undefined}>{formatNumber(d.compactionLag)}</span>
        </Row>
        <Row label="Rows compaction would delete" hint="Superseded versions and tombstones">
          {formatNumber(d.uncompactedRows)} ({deadShare} %)
        </Row>
      </dl>
      <dl>
        <Row label="Taken at">{formatTime(m.createdAt)}</Row>
        <Row label="Host">{m.host}</Row>
        <Row label="k3s version">{m.k3sVersion ?? "unknown"}</Row>
        <Row label="Agent version">{m.agentVersion}</Row>
        <Row label="Snapshot method">{m.snapshotMethod}</Row>
        <Row label="Integrity check of the snapshot">
          <span className={m.integrity === "ok" ? "text-emerald-700" : "text-red-700"}>{m.integrity}</span>
        </Row>
        {m.timings.total !== undefined && <Row label="Backup took">{(m.timings.total / 1000).toFixed(1)} s</Row>}
        {m.archivedPaths.length > 0 && <Row label="Server files archived">{m.archivedPaths.length} paths</Row>}
      </dl>
      <Prefixes title="Key prefixes by rows" rows={d.topPrefixesByRows} />
      <Prefixes title="Key prefixes by bytes" rows={d.topPrefixesByBytes} />
    </div>
  );
}
