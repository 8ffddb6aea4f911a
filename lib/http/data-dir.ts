// The dashboard's own database, checked before anything starts: the launcher (`npm start`) and the
// dashboard's HTTP front (lib/http/dashboard-server.ts) run outside Next.js, so no `server-only`.
import Database from "better-sqlite3";
import { existsSync } from "node:fs";
import path from "node:path";

/**
 * Why `<dataDir>/lifeboat.db` cannot be used, as a sentence saying what to do; null when it can (or
 * when there is none yet: the dashboard makes it). Reads only: a damaged file is never changed.
 * Without this check a damaged file surfaced as a stack trace from Next.js's start hook, after the
 * launcher had started everything else and waited a minute for a dashboard that never answered.
 */
export function dashboardDatabaseProblem(dataDir: string): string | null {
  const file = path.join(dataDir, "lifeboat.db");
  if (!existsSync(file)) return null;
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
    db.pragma("schema_version", { simple: true });
    db.prepare("SELECT count(*) FROM sqlite_master").get();
    return null;
  } catch (err) {
    const why = (err as { code?: string }).code === "SQLITE_NOTADB" ? "it is not a SQLite database" : (err as Error).message;
    return (
      `The dashboard's database ${file} cannot be read (${why}). Nothing was changed. It holds the dashboard's ` +
      `users, API tokens, audit log, alert history and settings; the backup history is read again from the store. ` +
      `Put back a copy of it, or move it aside (mv ${file} ${file}.damaged) to start with a new one, then start again.`
    );
  } finally {
    db?.close();
  }
}
