import "server-only";
import type { Statement } from "better-sqlite3";
import type { Db } from "../db/database";

// The guard runs on every request; preparing its two queries each time was most of its cost
// (bench/auth.ts). Statements are kept per database handle.
const cache = new WeakMap<Db, Map<string, Statement>>();

/** `db.prepare(sql)`, prepared once per database handle. */
export function prepared(db: Db, sql: string): Statement {
  let m = cache.get(db);
  if (!m) cache.set(db, (m = new Map()));
  let s = m.get(sql);
  if (!s) m.set(sql, (s = db.prepare(sql)));
  return s;
}
