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
];
