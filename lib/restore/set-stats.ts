import type { ManifestState } from "../contracts/catalog";
import type { DrillRecord, SetStats } from "./contracts";

/**
 * What is known of the database inside a backup set: its Lifeboat manifest (written by the agent
 * from the verified snapshot), else the statistics its last restore drill read from the staged
 * copy (seed sets have no manifest). Null when neither exists yet.
 */
export function setStatsFrom(manifest: ManifestState | null | undefined, drill: DrillRecord | null | undefined): SetStats | null {
  if (manifest?.state === "ok") {
    const m = manifest.manifest;
    const d = m.database;
    return {
      from: "manifest",
      currentRevision: d.currentRevision,
      rowCount: d.rowCount,
      liveKeys: d.liveKeys,
      compactionLag: d.compactionLag,
      fileSize: d.fileSize,
      k3sVersion: m.k3sVersion,
      host: m.host,
      topPrefixesByRows: d.topPrefixesByRows,
    };
  }
  const st = drill?.detail?.stats;
  if (st)
    return {
      from: "drill",
      currentRevision: st.currentRevision,
      rowCount: st.rowCount,
      liveKeys: st.liveKeys,
      compactionLag: st.compactionLag,
      fileSize: st.fileSize,
      k3sVersion: null,
      host: null,
      topPrefixesByRows: st.topPrefixesByRows,
    };
  return null;
}
