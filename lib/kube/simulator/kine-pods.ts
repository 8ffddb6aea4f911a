import Database from "better-sqlite3";

/**
 * The pods a kine database holds: what a k3s API server would serve from it. kine keeps every object
 * under `/registry/<resource>/<namespace>/<name>`; a key's newest row is its current version, a
 * tombstone (`deleted = 1`) means it was deleted. Read-only and short: the demo's simulated k3s keeps
 * writing to the same file (WAL mode).
 */

export interface KinePod {
  namespace: string;
  name: string;
  /** The revision that created the pod (kine's create_revision): older pods have smaller ones. */
  createRevision: number;
}

export interface KinePods {
  /** The database's current revision (MAX(id)). */
  revision: number;
  pods: KinePod[];
}

const LIVE_PODS = `
  SELECT name, CASE WHEN created = 1 THEN id ELSE create_revision END AS createRevision
  FROM kine
  WHERE id IN (SELECT MAX(id) FROM kine WHERE name >= '/registry/pods/' AND name < '/registry/pods0' GROUP BY name) AND deleted = 0
  ORDER BY name`;

/** Reads the live pods. Throws SQLite's error when the file is missing, locked too long or not a kine database. */
export function readKinePods(dbPath: string): KinePods {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true, timeout: 2000 });
  try {
    const read = db.transaction(() => {
      const revision = (db.prepare("SELECT IFNULL(MAX(id), 0) FROM kine").pluck().get() as number) ?? 0;
      const rows = db.prepare(LIVE_PODS).all() as { name: string; createRevision: number }[];
      return { revision, rows };
    });
    const { revision, rows } = read();
    const pods: KinePod[] = [];
    for (const r of rows) {
      const [namespace, name, ...rest] = r.name.slice("/registry/pods/".length).split("/");
      if (namespace && name && rest.length === 0) pods.push({ namespace, name, createRevision: r.createRevision });
    }
    return { revision, pods };
  } finally {
    db.close();
  }
}
