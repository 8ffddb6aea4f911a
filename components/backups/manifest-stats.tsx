import { Banner } from "@/components/ui/banner";
import { formatBytes, formatNumber, formatTime } from "@/components/ui/format";
import { DatabaseRows, StatRow } from "./database-rows";
import type { ManifestState } from "@/lib/contracts/catalog";
import type { KeyPrefixStat } from "@/lib/contracts/manifest";

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
  return (
    <div className="grid gap-6 md:grid-cols-2">
      <dl>
        <DatabaseRows db={{ ...d, deadRows: d.uncompactedRows }} />
      </dl>
      <dl>
        <StatRow label="Taken at">{formatTime(m.createdAt)}</StatRow>
        <StatRow label="Host">{m.host}</StatRow>
        <StatRow label="k3s version">{m.k3sVersion ?? "unknown"}</StatRow>
        <StatRow label="Agent version">{m.agentVersion}</StatRow>
        <StatRow label="Snapshot method">{m.snapshotMethod}</StatRow>
        <StatRow label="Integrity check of the snapshot">
          <span className={m.integrity === "ok" ? "text-emerald-700" : "text-red-700"}>{m.integrity}</span>
        </StatRow>
        {m.timings.total !== undefined && <StatRow label="Backup took">{(m.timings.total / 1000).toFixed(1)} s</StatRow>}
        {m.archivedPaths.length > 0 && <StatRow label="Server files archived">{m.archivedPaths.length} paths</StatRow>}
      </dl>
      <Prefixes title="Key prefixes by rows" rows={d.topPrefixesByRows} />
      <Prefixes title="Key prefixes by bytes" rows={d.topPrefixesByBytes} />
    </div>
  );
}
