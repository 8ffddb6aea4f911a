import "server-only";
/**
 * Schema migrations of the dashboard's own SQLite database, applied in id order, each once.
 * Never edit an applied migration: add a new one. Id ranges keep features apart:
 *   1–9 foundation, 10–19 catalog, 20–29 restore wizard & drills, 30–39 nodes & worker migration,
 *   40–49 accounts & auth, 50–59 alerts & notifications, 60–69 set statistics & explanations,
 *   70–79 continuous protection, 80–89 demo cluster.
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
    id: 40,
    name: "accounts: users (scrypt hashes), sessions and API tokens (sha256 of the secret only), who acted in the audit log",
    sql: `
      CREATE TABLE users (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL UNIQUE COLLATE NOCASE,
        role TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
        password_hash TEXT NOT NULL,
        created_at TEXT NOT NULL,
        password_changed_at TEXT NOT NULL
      );
      CREATE TABLE sessions (
        id_hash TEXT PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        created_at INTEGER NOT NULL,
        last_seen_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        client_address TEXT
      ) WITHOUT ROWID;
      CREATE INDEX sessions_user ON sessions(user_id);
      CREATE TABLE api_tokens (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE COLLATE NOCASE,
        role TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
        token_hash TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL,
        created_by TEXT NOT NULL,
        last_used_at TEXT
      );
      ALTER TABLE audit_log ADD COLUMN actor TEXT;
      ALTER TABLE audit_log ADD COLUMN actor_role TEXT;
      ALTER TABLE audit_log ADD COLUMN client_address TEXT;
    `,
  },
  {
    id: 41,
    name: "restore wizard: a new machine's agent certificate fingerprint (pinned like LIFEBOAT_AGENT_FINGERPRINT)",
    sql: `ALTER TABLE restore_agent_targets ADD COLUMN fingerprint TEXT;`,
  },
  {
    id: 42,
    name: "accounts: failed sign-ins per user name and per address (the sign-in limits survive a restart)",
    sql: `
      CREATE TABLE login_failures (key TEXT NOT NULL, at INTEGER NOT NULL);
      CREATE INDEX login_failures_key ON login_failures(key, at);
    `,
  },
  {
    id: 43,
    name: "accounts: the user who made an API token (it acts with no more than that user's role, and goes with the user)",
    sql: `
      ALTER TABLE api_tokens ADD COLUMN created_by_user INTEGER REFERENCES users(id) ON DELETE CASCADE;
      UPDATE api_tokens SET created_by_user = (SELECT id FROM users WHERE users.name = api_tokens.created_by);
    `,
  },
  {
    id: 50,
    name: "alerts: one row per episode of an alert (firing until resolved_at), at most one open episode per key",
    sql: `
      CREATE TABLE alert_episodes (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        key TEXT NOT NULL,
        name TEXT NOT NULL,
        severity TEXT NOT NULL,
        summary TEXT NOT NULL,
        set_id TEXT,
        node TEXT,
        path TEXT NOT NULL,
        started_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        resolved_at TEXT,
        reminded_at TEXT
      );
      CREATE UNIQUE INDEX alert_episodes_open ON alert_episodes(key) WHERE resolved_at IS NULL;
      CREATE INDEX alert_episodes_started ON alert_episodes(started_at);
    `,
  },
  {
    id: 51,
    name: "notifications: channels (secrets kept only here), the outbox of pending deliveries, the delivery log, what each channel was sent",
    sql: `
      CREATE TABLE notification_channels (
        id TEXT PRIMARY KEY,
        type TEXT NOT NULL,
        label TEXT NOT NULL,
        enabled INTEGER NOT NULL,
        min_severity TEXT NOT NULL,
        settings TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
      );
      CREATE TABLE notification_outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        channel_id TEXT NOT NULL,
        event TEXT NOT NULL,
        episode_id INTEGER,
        alert_key TEXT,
        message TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_at TEXT NOT NULL,
        created_at TEXT NOT NULL
      );
      CREATE INDEX notification_outbox_due ON notification_outbox(next_at);
      CREATE TABLE notification_deliveries (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        channel_id TEXT NOT NULL,
        channel_label TEXT NOT NULL,
        channel_type TEXT NOT NULL,
        event TEXT NOT NULL,
        alert_key TEXT,
        episode_id INTEGER,
        outcome TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        status INTEGER,
        detail TEXT
      );
      CREATE INDEX notification_deliveries_episode ON notification_deliveries(episode_id);
      CREATE INDEX notification_deliveries_channel ON notification_deliveries(channel_id, id);
      CREATE TABLE notification_sent (
        episode_id INTEGER NOT NULL,
        channel_id TEXT NOT NULL,
        event TEXT NOT NULL,
        at TEXT NOT NULL,
        PRIMARY KEY (episode_id, channel_id, event)
      ) WITHOUT ROWID;
    `,
  },
  {
    id: 52,
    name: "alerts: since when a firing alert's rule finds it clear (it resolves once clear long enough: no flapping)",
    sql: `
      ALTER TABLE alert_episodes ADD COLUMN clear_since TEXT;
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
