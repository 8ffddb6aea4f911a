import { detectAnomalies } from "../../backups/anomalies";
import { groupObjects, type ListedObject } from "../../backups/grouping";
import { twoCopyLifeboatObjectNames, seedObjectNames } from "../../contracts/backup-names";
import type { HealthReport } from "../../contracts/agent-health";
import type { KineStats } from "../../contracts/manifest";
import type { AgentInput, AlertInput, CatalogInput, RuleSet } from "../rules/types";

/** Test inputs for the alert rules: real sets through the catalog's own grouping and anomaly detection, and a healthy report. */

export const DAY = 86_400_000;
export const T0 = Date.UTC(2024, 11, 1);

/** Nightly seed sets with these file-archive sizes (the logical backup 1.3× each), oldest first. */
export function seedHistory(sizes: readonly number[], start = T0): ListedObject[] {
  return sizes.flatMap((size, i) => {
    const names = seedObjectNames(new Date(start + i * DAY));
    const at = new Date(start + i * DAY + 60_000).toISOString();
    return [
      { key: names.fileArchive, size, lastModified: at },
      { key: names.logical, size: Math.round(size * 1.3), lastModified: at },
    ];
  });
}

/** Nightly complete Lifeboat sets (two-copy layout) with these database-archive sizes. */
export function lifeboatHistory(sizes: readonly number[], start = T0): ListedObject[] {
  return sizes.flatMap((size, i) => {
    const names = twoCopyLifeboatObjectNames(new Date(start + i * DAY));
    const at = new Date(start + i * DAY + 60_000).toISOString();
    return [
      { key: names.logical, size, lastModified: at },
      { key: names.files, size: size + 5_000, lastModified: at },
      { key: names.token, size: 300, lastModified: at },
      { key: names.manifest, size: 2_000, lastModified: at },
    ];
  });
}

/** Sets as the catalog's view has them: newest first, with anomalies judged at `now`. */
export function ruleSets(objects: readonly ListedObject[], now: Date): RuleSet[] {
  const { sets } = groupObjects(objects);
  const anomalies = detectAnomalies(sets, { now });
  return sets.map((s) => ({
    id: s.id,
    format: s.format,
    timestamp: s.time.toISOString(),
    objects: s.objects,
    missing: s.missing,
    anomalies: anomalies.get(s.id) ?? [],
  }));
}

export function kineStats(over: Partial<KineStats> = {}): KineStats {
  return {
    fileSize: 5_000_000,
    pageSize: 4096,
    pageCount: 1200,
    freelistCount: 10,
    rowCount: 20_000,
    currentRevision: 50_000,
    compactRevision: 49_000,
    compactionLag: 1_000,
    uncompactedRows: 900,
    liveKeys: 1_500,
    topPrefixesByRows: [],
    topPrefixesByBytes: [{ prefix: "/registry/leases", rows: 1000, bytes: 400_000 }],
    ...over,
  };
}

/** A healthy report from host `k3s-server`. */
export function healthReport(over: Partial<HealthReport> = {}): HealthReport {
  const check = { ran: true, ok: true, messages: ["ok"], millis: 12, at: "2024-12-20T00:00:00.000Z" };
  return {
    checkedAt: "2024-12-20T00:00:00.000Z",
    host: "k3s-server",
    serverDir: "/var/lib/rancher/k3s/server",
    dbPath: "/var/lib/rancher/k3s/server/db/state.db",
    verdict: "ok",
    reasons: [],
    files: {
      db: { path: "/var/lib/rancher/k3s/server/db/state.db", exists: true, bytes: 5_000_000 },
      wal: { path: "/var/lib/rancher/k3s/server/db/state.db-wal", exists: true, bytes: 4_000_000 },
      shm: { path: "/var/lib/rancher/k3s/server/db/state.db-shm", exists: true, bytes: 32_768 },
    },
    database: { opened: true, error: null, checkedOn: "live", journalMode: "wal", pageSize: 4096, pageCount: 1200, freelistCount: 10, freelistRatio: 0.008 },
    quickCheck: check,
    integrityCheck: check,
    kine: kineStats(),
    kineError: null,
    ownership: {
      expected: { uid: 0, gid: 0 },
      entries: [
        {
          path: "/var/lib/rancher/k3s/server/db/state.db",
          exists: true,
          kind: "file",
          uid: 0,
          gid: 0,
          mode: "0600",
          expectedMode: "0600",
          ok: true,
          problem: null,
          fix: null,
        },
      ],
    },
    disk: {
      stagingDir: "/var/lib/rancher/k3s/lifeboat/restores",
      freeBytes: 50e9,
      totalBytes: 100e9,
      sameFilesystemAsServer: true,
      neededForStaging: 18e6,
      enoughForStaging: true,
    },
    k3s: { command: "systemctl is-active k3s", state: "active", running: true, present: true, dbHolders: [] },
    pendingRestoreId: null,
    millis: 80,
    ...over,
  };
}

export function catalogInput(sets: RuleSet[], over: Partial<CatalogInput> = {}): CatalogInput {
  return { configured: true, sets, error: null, refreshedAt: null, refreshIntervalMs: 300_000, verifications: new Map(), manifests: [], ...over };
}

export function agentInput(over: Partial<AgentInput> = {}): AgentInput {
  return {
    configured: true,
    url: "http://k3s-server:7070",
    health: healthReport(),
    healthFresh: true,
    unreachableSince: null,
    lastError: null,
    backups: { lastSuccessAt: "2024-12-20T00:01:00.000Z", lastFailureAt: null, lastFailureError: null },
    ...over,
  };
}

export function alertInput(now: Date, catalog: CatalogInput, agent: AgentInput = agentInput()): AlertInput {
  return { now, catalog, agent };
}
