import type Database from "better-sqlite3";
import { KINE_COMPACT_SQL, KINE_INSERT_SQL, KINE_SET_COMPACT_REV_SQL } from "./schema";
import { bootstrapKey, encryptBootstrap } from "./bootstrap";

/** A small deterministic PRNG (mulberry32) so generated databases are reproducible. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Live events the simulated cluster holds at most: what ~5 minutes of its events come to. Real
 * events live for their 1 h lease; the cap plays that part at the simulator's scale.
 */
export const LIVE_EVENTS_CAP = 200;

interface KeyState {
  id: number;
  createRevision: number;
  deleted: boolean;
}

export interface SimulatorOptions {
  /** Worker + server nodes whose leases renew (default 3, like the write-up's Raspberry Pis). */
  nodes?: number;
  seed?: number;
  /** The k3s server token whose bootstrap data is stored (default: a generated K10 token). */
  token?: string;
}

/**
 * Writes to a kine database the way k3s does, with kine's exact insert and compaction SQL: node and
 * leader-election lease renewals (an update each, carrying old_value), events created with a 3600 s
 * lease and later deleted, pods, configmaps and secrets created, changed and deleted, and the
 * bootstrap data encrypted with the token. Used by the generator, the test writer process and the
 * fake k3s.
 */
export class KineSimulator {
  readonly token: string;
  private readonly rand: () => number;
  private readonly keys = new Map<string, KeyState>();
  private readonly insert: Database.Statement;
  private readonly compactStmt: Database.Statement;
  private readonly setCompactRev: Database.Statement;
  private readonly nodes: string[];
  private tickNo = 0;
  private eventNo = 0;
  private podNo = 0;
  private liveEvents: string[] = [];
  private livePods: string[] = [];

  constructor(
    private readonly db: Database.Database,
    opts: SimulatorOptions = {},
  ) {
    this.rand = prng(opts.seed ?? 42);
    this.token = opts.token ?? `K10${this.hex(64)}::server:${this.hex(32)}`;
    this.nodes = Array.from({ length: opts.nodes ?? 3 }, (_, i) => (i === 0 ? "pi-server" : `pi-worker-${i}`));
    this.insert = db.prepare(KINE_INSERT_SQL);
    this.compactStmt = db.prepare(KINE_COMPACT_SQL);
    this.setCompactRev = db.prepare(KINE_SET_COMPACT_REV_SQL);
    // Resume from an existing database: learn each key's newest row.
    const rows = db.prepare("SELECT name, id, create_revision, created, deleted FROM kine WHERE id IN (SELECT MAX(id) FROM kine GROUP BY name)").all() as {
      name: string;
      id: number;
      create_revision: number;
      created: number;
      deleted: number;
    }[];
    for (const r of rows) {
      this.keys.set(r.name, { id: r.id, createRevision: r.created ? r.id : r.create_revision, deleted: Boolean(r.deleted) });
      if (!r.deleted && r.name.startsWith("/registry/events/")) this.liveEvents.push(r.name);
      if (!r.deleted && r.name.startsWith("/registry/pods/")) this.livePods.push(r.name);
    }
    this.eventNo = this.liveEvents.length + rows.length;
    this.podNo = rows.length;
  }

  private hex(n: number): string {
    let s = "";
    while (s.length < n) s += Math.floor(this.rand() * 16).toString(16);
    return s;
  }

  /** A value shaped like k8s protobuf: a "k8s\0" prefix, readable metadata, then some random bytes. */
  private value(kind: string, name: string, size: number): Buffer {
    const head = Buffer.from(`k8s\u0000\n\u0002v1\u0012\u0004${kind}\u001a${JSON.stringify({ metadata: { name, resourceVersion: String(this.tickNo) } })}`);
    const body = Buffer.alloc(Math.max(0, size - head.length));
    // Half text-like (compressible), half random: compresses roughly like real objects.
    for (let i = 0; i < body.length; i++) body[i] = i % 2 === 0 ? 97 + (i % 26) : Math.floor(this.rand() * 256);
    return Buffer.concat([head, body]);
  }

  /** Creates or updates `name` (one kine revision). Returns the new revision. */
  put(name: string, value: Buffer, lease = 0): number {
    const prev = this.keys.get(name);
    let info;
    if (!prev || prev.deleted) {
      info = this.insert.run(name, 1, 0, 0, prev?.id ?? 0, lease, value, prev?.id ?? 0);
      const id = Number(info.lastInsertRowid);
      this.keys.set(name, { id, createRevision: id, deleted: false });
      return id;
    }
    info = this.insert.run(name, 0, 0, prev.createRevision, prev.id, lease, value, prev.id);
    const id = Number(info.lastInsertRowid);
    this.keys.set(name, { id, createRevision: prev.createRevision, deleted: false });
    return id;
  }

  /** Deletes `name` with a tombstone row. No-op when the key is absent. */
  delete(name: string): number | null {
    const prev = this.keys.get(name);
    if (!prev || prev.deleted) return null;
    const info = this.insert.run(name, 0, 1, prev.createRevision, prev.id, 0, null, prev.id);
    const id = Number(info.lastInsertRowid);
    this.keys.set(name, { id, createRevision: prev.createRevision, deleted: true });
    return id;
  }

  /** The cluster's first objects: compact_rev_key, bootstrap data, namespaces, nodes, workloads. */
  seed(): void {
    if (this.keys.has("compact_rev_key")) return;
    this.put("compact_rev_key", Buffer.alloc(0));
    const bootstrap = JSON.stringify({
      ServerCA: {
        timestamp: "2024-12-01T00:00:00Z",
        content: Buffer.from("-----BEGIN CERTIFICATE-----\nfake server CA\n-----END CERTIFICATE-----\n").toString("base64"),
      },
      ServerCAKey: {
        timestamp: "2024-12-01T00:00:00Z",
        content: Buffer.from("-----BEGIN EC PRIVATE KEY-----\nfake\n-----END EC PRIVATE KEY-----\n").toString("base64"),
      },
    });
    this.put(bootstrapKey(this.token), encryptBootstrap(this.token, Buffer.from(bootstrap)));
    for (const ns of ["default", "kube-system", "kube-public", "kube-node-lease", "apps", "monitoring"])
      this.put(`/registry/namespaces/${ns}`, this.value("Namespace", ns, 300));
    for (const n of this.nodes) {
      this.put(`/registry/minions/${n}`, this.value("Node", n, 4500));
      this.put(`/registry/leases/kube-node-lease/${n}`, this.value("Lease", n, 350));
    }
    for (const l of ["kube-controller-manager", "kube-scheduler", "k3s", "k3s-etcd"])
      this.put(`/registry/leases/kube-system/${l}`, this.value("Lease", l, 400));
    for (let i = 0; i < 12; i++)
      this.put(`/registry/configmaps/apps/config-${i}`, this.value("ConfigMap", `config-${i}`, 600 + Math.floor(this.rand() * 6000)));
    for (let i = 0; i < 8; i++) this.put(`/registry/secrets/apps/secret-${i}`, this.value("Secret", `secret-${i}`, 900));
    for (let i = 0; i < 6; i++) {
      this.put(`/registry/deployments/apps/app-${i}`, this.value("Deployment", `app-${i}`, 2500));
      this.put(`/registry/replicasets/apps/app-${i}-7d9f`, this.value("ReplicaSet", `app-${i}-7d9f`, 2200));
      this.put(`/registry/services/specs/apps/app-${i}`, this.value("Service", `app-${i}`, 700));
    }
    for (let i = 0; i < 10; i++) this.createPod();
  }

  private createPod(): void {
    const name = `/registry/pods/apps/app-${this.podNo % 6}-7d9f-${(this.podNo++).toString(36)}`;
    this.put(name, this.value("Pod", name, 4200 + Math.floor(this.rand() * 2500)));
    this.livePods.push(name);
  }

  /**
   * One ~2 s slice of a cluster's life: leader-election leases renew, node leases renew every fifth
   * tick (~10 s), an event or two is recorded and the oldest beyond LIVE_EVENTS_CAP expire, now and
   * then a pod is replaced or a configmap changes. Returns the number of revisions written.
   */
  tick(): number {
    this.tickNo++;
    let writes = 0;
    for (const l of ["kube-controller-manager", "kube-scheduler", "k3s"]) {
      this.put(`/registry/leases/kube-system/${l}`, this.value("Lease", l, 400), 0);
      writes++;
    }
    if (this.tickNo % 5 === 0) {
      for (const n of this.nodes) {
        this.put(`/registry/leases/kube-node-lease/${n}`, this.value("Lease", n, 350));
        writes++;
      }
    }
    const events = this.rand() < 0.6 ? 1 : 2;
    for (let i = 0; i < events; i++) {
      const name = `/registry/events/apps/app-${this.eventNo % 6}.${(this.eventNo++).toString(16)}`;
      this.put(name, this.value("Event", name, 700 + Math.floor(this.rand() * 500)), 3600);
      this.liveEvents.push(name);
      writes++;
    }
    // Events expire after their lease and kine deletes them: the oldest beyond the cap go every
    // tick, so a steady cluster holds a steady number of events instead of more every hour.
    while (this.liveEvents.length > LIVE_EVENTS_CAP) {
      if (this.delete(this.liveEvents.shift()!) !== null) writes++;
    }
    if (this.rand() < 0.05 && this.livePods.length) {
      const victim = this.livePods.splice(Math.floor(this.rand() * this.livePods.length), 1)[0];
      if (this.delete(victim) !== null) writes++;
      this.createPod();
      writes++;
    }
    if (this.rand() < 0.03) {
      const i = Math.floor(this.rand() * 12);
      this.put(`/registry/configmaps/apps/config-${i}`, this.value("ConfigMap", `config-${i}`, 600 + Math.floor(this.rand() * 6000)));
      writes++;
    }
    return writes;
  }

  /** The current revision (MAX(id)). */
  currentRevision(): number {
    return (this.db.prepare("SELECT IFNULL(MAX(id), 0) FROM kine").pluck().get() as number) ?? 0;
  }

  /**
   * Compacts like kine: up to `target` (default: current − 1000, keeping the newest 1000
   * revisions), in batches of 1000 revisions, each batch its own transaction. Returns rows deleted.
   */
  compact(target?: number): number {
    const current = this.currentRevision();
    const upTo = target ?? current - 1000;
    let from = (this.db.prepare("SELECT IFNULL(MAX(prev_revision), 0) FROM kine WHERE name = 'compact_rev_key'").pluck().get() as number) ?? 0;
    let deleted = 0;
    while (from < upTo) {
      const batchEnd = Math.min(from + 1000, upTo);
      this.db
        .transaction(() => {
          deleted += this.compactStmt.run(batchEnd, batchEnd).changes;
          this.setCompactRev.run(batchEnd);
        })
        .immediate();
      from = batchEnd;
    }
    return deleted;
  }
}
