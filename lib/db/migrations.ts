import "server-only";
/**
 * Schema migrations of the dashboard's own SQLite database, applied in id order, each once.
 * Never edit an applied migration: add a new one. Id ranges keep features apart:
 *   1–9 foundation, 10–19 catalog, 20–29 restore wizard & drills, 30–39 nodes & worker migration.
 */
export interface Migration {
  id: number;
  name: string;
  sql: string;
}

export const migrations: Migration[] = [
  {
    id: 1,
    name: "foundation: audit log, wizard runs, key-value settings",
    sql: `
      CREATE TABLE audit_log (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT,
        outcome TEXT NOT NULL,
        detail TEXT
      );
      CREATE INDEX audit_log_at ON audit_log(at);
      CREATE TABLE wizard_runs (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        step TEXT NOT NULL,
        status TEXT NOT NULL,
        state TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
      );
      CREATE INDEX wizard_runs_kind ON wizard_runs(kind, updated_at);
      CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    `,
  },
  {
    id: 10,
    name: "catalog: cached listing per store, refresh state, fetched manifests",
    sql: `
      CREATE TABLE catalog_objects (
        source TEXT NOT NULL,
        key TEXT NOT NULL,
        size INTEGER NOT NULL,
        last_modified TEXT NOT NULL,
        PRIMARY KEY (source, key)
      ) WITHOUT ROWID;
      CREATE TABLE catalog_sources (
        source TEXT PRIMARY KEY,
        refreshed_at TEXT,
        attempted_at TEXT,
        object_count INTEGER NOT NULL DEFAULT 0,
        error_failure TEXT,
        error_message TEXT,
        error_at TEXT
      );
      CREATE TABLE catalog_manifests (
        source TEXT NOT NULL,
        key TEXT NOT NULL,
        size INTEGER NOT NULL,
        last_modified TEXT NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (source, key)
      ) WITHOUT ROWID;
    `,
  },
  {
    id: 20,
    name: "restore drills: one row per backup set and store (queued, running, verified, failed)",
    sql: `
      CREATE TABLE restore_drills (
        source TEXT NOT NULL,
        set_id TEXT NOT NULL,
        state TEXT NOT NULL,
        requested_by TEXT NOT NULL,
        queued_at TEXT NOT NULL,
        started_at TEXT,
        finished_at TEXT,
        reason TEXT,
        restore_id TEXT,
        detail TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (source, set_id)
      ) WITHOUT ROWID;
      CREATE INDEX restore_drills_state ON restore_drills(source, state);
    `,
  },
  {
    id: 21,
    name: "restore wizard: new-machine agents (address and token, kept server-side until the run ends)",
    sql: `
      CREATE TABLE restore_agent_targets (
        id TEXT PRIMARY KEY,
        url TEXT NOT NULL,
        token TEXT NOT NULL,
        created_at TEXT NOT NULL
      );
    `,
  },
  {
    id: 30,
    name: "nodes: drain jobs (progress pod by pod, kept across dashboard restarts)",
    sql: `
      CREATE TABLE drain_jobs (
        id TEXT PRIMARY KEY,
        node TEXT NOT NULL,
        state TEXT NOT NULL,
        job TEXT NOT NULL,
        started_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
      );
      CREATE INDEX drain_jobs_node ON drain_jobs(node, started_at);
    `,
  },
  {
    id: 60,
    name: "set statistics: the kine statistics of each backup set (from its manifest or its restore drill), kept per store",
    sql: `
      CREATE TABLE set_statistics (
        source TEXT NOT NULL,
        set_id TEXT NOT NULL,
        origin TEXT NOT NULL,
        taken_at TEXT NOT NULL,
        recorded_at TEXT NOT NULL,
        current_revision INTEGER NOT NULL,
        compact_revision INTEGER NOT NULL,
        row_count INTEGER NOT NULL,
        live_keys INTEGER NOT NULL,
        compaction_lag INTEGER NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (source, set_id)
      ) WITHOUT ROWID;
    `,
  },
];
