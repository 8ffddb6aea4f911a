import { z } from "zod";
import { ObjectKind } from "./backup-names";

/**
 * Rows and bytes under one key prefix (first two path segments, e.g. `/registry/leases`; or three,
 * `/registry/leases/kube-system`, in `subPrefixes`). `liveKeys`: keys under it whose newest row is not
 * a deletion (agents before statistics per set left it out).
 */
export const KeyPrefixStat = z.object({
  prefix: z.string(),
  rows: z.number().int().nonnegative(),
  bytes: z.number().int().nonnegative(),
  liveKeys: z.number().int().nonnegative().optional(),
});
export type KeyPrefixStat = z.infer<typeof KeyPrefixStat>;

/**
 * Statistics of a kine database. Computed by one implementation (agent/kine/stats.ts) for both the
 * backup manifest and the live health check.
 */
export const KineStats = z.object({
  fileSize: z.number().int().nonnegative(),
  pageSize: z.number().int().positive(),
  pageCount: z.number().int().nonnegative(),
  freelistCount: z.number().int().nonnegative(),
  /** Rows in the kine table, counted by scanning the table (not an index). */
  rowCount: z.number().int().nonnegative(),
  /** MAX(id): kine's current revision. */
  currentRevision: z.number().int().nonnegative(),
  /** prev_revision of the compact_rev_key row; 0 when kine never compacted. */
  compactRevision: z.number().int().nonnegative(),
  /** currentRevision − compactRevision. Healthy: near 1000 plus one interval's writes. */
  compactionLag: z.number().int().nonnegative(),
  /** Rows compaction would delete now (superseded versions and tombstones). */
  uncompactedRows: z.number().int().nonnegative(),
  /** Keys whose newest row is not a deletion. */
  liveKeys: z.number().int().nonnegative(),
  topPrefixesByRows: z.array(KeyPrefixStat),
  topPrefixesByBytes: z.array(KeyPrefixStat),
  // The fields below came with statistics per set (issue 14); older manifests and agents lack them.
  /** Every key prefix (at most 500, most rows first): what the growth explanation compares. */
  prefixes: z.array(KeyPrefixStat).optional(),
  /** The 25 three-segment prefixes with most rows (`/registry/leases/kube-system`): where inside a prefix the rows are. */
  subPrefixes: z.array(KeyPrefixStat).optional(),
  /**
   * About when kine's compaction last advanced: the creationTimestamp of the first object created
   * after the compact revision (compaction runs minutes after that). Null when no object there
   * carries one, or kine never compacted.
   */
  compactRevisionWrittenAt: z.string().nullable().optional(),
});
export type KineStats = z.infer<typeof KineStats>;

export const ManifestObject = z.object({
  kind: ObjectKind,
  key: z.string(),
  /** Bytes as uploaded (after compression and encryption). */
  size: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
});
export type ManifestObject = z.infer<typeof ManifestObject>;

/** `lifeboat_<ts>_manifest.json`: written last, so its presence means the set is complete. No secrets. */
export const BackupManifest = z.object({
  version: z.literal(1),
  setId: z.string(),
  /** ISO time the snapshot was taken. */
  createdAt: z.string(),
  host: z.string(),
  k3sVersion: z.string().nullable(),
  agentVersion: z.string(),
  /** How the snapshot was taken, e.g. "vacuum-into" or "backup-one-step". */
  snapshotMethod: z.string(),
  /** Result of PRAGMA integrity_check on the snapshot: "ok" for every uploaded set. */
  integrity: z.string(),
  database: KineStats,
  objects: z.array(ManifestObject),
  /** Milliseconds per step: snapshot, integrityCheck, stats, upload..., total. */
  timings: z.record(z.string(), z.number().nonnegative()),
  /** What the server-files archive holds, as paths relative to the server dir. */
  archivedPaths: z.array(z.string()).default([]),
});
export type BackupManifest = z.infer<typeof BackupManifest>;
