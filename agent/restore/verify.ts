import { readFileSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import type Database from "better-sqlite3";
import type { RestoreVerification } from "../../lib/contracts/agent-restore";
import { bootstrapKey, decryptBootstrap } from "../kine/bootstrap";
import { KINE_COLUMNS } from "../kine/schema";
import { readKineStats } from "../kine/stats";
import { openReadOnly } from "../sqlite/check";
import { startSqliteChecker, type SqliteChecker } from "../sqlite/worker";
import type { StagedFiles } from "./stage";

/**
 * Verify step: the staged database must pass a full integrity_check, look like kine, and the token
 * the restored server will run with must open the datastore's bootstrap data. k3s keeps its CA
 * certificates and keys there, encrypted with the token; with the wrong token k3s refuses to start.
 */

export const TOKEN_MISMATCH =
  "this token cannot open this datastore (k3s would refuse to start with 'bootstrap data already found and encrypted with different token')";

function countFiles(dir: string | null): number {
  if (!dir) return 0;
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) n += e.isDirectory() ? countFiles(path.join(dir, e.name)) : 1;
  return n;
}

function readToken(file: string): string | null {
  try {
    const t = readFileSync(file, "utf8").trim();
    return t || null;
  } catch {
    return null;
  }
}

/** Whether `token` opens the bootstrap data in `db`. */
export function checkToken(db: Database.Database, token: string): { fits: boolean; message: string; noBootstrap: boolean } {
  const rows = db
    .prepare(
      `SELECT k.name, k.value FROM kine AS k JOIN (SELECT name, MAX(id) AS id FROM kine WHERE name LIKE '/bootstrap/%' GROUP BY name) AS l ON k.id = l.id WHERE k.deleted = 0`,
    )
    .all() as { name: string; value: Buffer | null }[];
  if (rows.length === 0)
    return {
      fits: true,
      noBootstrap: true,
      message: "The datastore holds no bootstrap data: k3s will create new certificates, and agents that trusted the old ones must be re-joined.",
    };
  const key = bootstrapKey(token);
  const row = rows.find((r) => r.name === key);
  if (!row?.value) return { fits: false, noBootstrap: false, message: TOKEN_MISMATCH };
  try {
    decryptBootstrap(token, Buffer.from(row.value));
    return { fits: true, noBootstrap: false, message: "The token decrypts the datastore's bootstrap data." };
  } catch {
    return { fits: false, noBootstrap: false, message: TOKEN_MISMATCH };
  }
}

/**
 * Checks the staged files. `hostToken` is the token already on the server (used when the backup
 * holds none, or the user chose not to restore the backup's). Never throws: problems are in the
 * result (`ok` false plus the sentence in `failure`).
 */
export async function verifyStaged(
  staged: StagedFiles,
  opts: { hostTokenPath: string; useArchiveToken: boolean; checker?: SqliteChecker },
): Promise<{ verification: RestoreVerification; ok: boolean; failure: string | null }> {
  const warnings: string[] = [];
  const v: RestoreVerification = {
    integrity: { ok: false, messages: [] },
    looksLikeKine: false,
    stats: null,
    token: { source: "none", fits: false, message: "not checked" },
    walReplayed: staged.walReplayed,
    staged: { token: Boolean(staged.tokenPath), credFiles: countFiles(staged.credDir), tlsFiles: countFiles(staged.tlsDir) },
    warnings,
  };
  // The full integrity_check runs in a worker while this thread reads kine's shape, statistics and token.
  const integrity = (opts.checker ?? startSqliteChecker()).check(staged.dbPath, "integrity_check");
  const integrityFailure = async () => {
    v.integrity = await integrity;
    return v.integrity.ok
      ? null
      : {
          verification: v,
          ok: false,
          failure: `The backup's database fails PRAGMA integrity_check (${v.integrity.messages.slice(0, 3).join("; ")}). Restore another backup. Nothing on the server changed.`,
        };
  };
  let db: Database.Database | undefined;
  try {
    let cols: string[] = [];
    let compact = 0;
    let maxId = 0;
    try {
      db = openReadOnly(staged.dbPath);
      cols = (db.pragma("table_info(kine)") as { name: string }[]).map((c) => c.name);
      compact = cols.length ? (db.prepare("SELECT COUNT(*) FROM kine WHERE name = 'compact_rev_key'").pluck().get() as number) : 0;
      maxId = cols.length ? ((db.prepare("SELECT IFNULL(MAX(id), 0) FROM kine").pluck().get() as number) ?? 0) : 0;
    } catch (err) {
      const bad = await integrityFailure();
      return (
        bad ?? {
          verification: v,
          ok: false,
          failure: `The backup's database cannot be read (${(err as Error).message}). Restore another backup. Nothing on the server changed.`,
        }
      );
    }
    v.looksLikeKine = cols.join(",") === KINE_COLUMNS.join(",") && compact === 1 && maxId > 0;
    if (!v.looksLikeKine) {
      const bad = await integrityFailure();
      if (bad) return bad;
      const why = !cols.length
        ? "it has no kine table"
        : cols.join(",") !== KINE_COLUMNS.join(",")
          ? `its kine table has the columns ${cols.join(", ")}`
          : compact !== 1
            ? "it has no compact_rev_key row"
            : "its kine table is empty";
      return { verification: v, ok: false, failure: `The backup's database is not a k3s (kine) datastore: ${why}. Nothing on the server changed.` };
    }
    try {
      v.stats = readKineStats(db, staged.dbPath);
    } catch {
      // A damaged table: integrity_check says what is wrong.
    }
    // The token check too runs while the worker is still checking; its verdict counts only once
    // integrity_check passed (on a damaged table, integrity_check's findings come first).
    const archiveToken = opts.useArchiveToken && staged.tokenPath ? readToken(staged.tokenPath) : null;
    const hostToken = archiveToken ? null : readToken(opts.hostTokenPath);
    const token = archiveToken ?? hostToken;
    let t: ReturnType<typeof checkToken> | null = null;
    let tokenError: unknown = null;
    try {
      if (token) t = checkToken(db, token);
    } catch (err) {
      tokenError = err;
    }
    const bad = await integrityFailure();
    if (bad) return bad;
    if (tokenError) throw tokenError;

    if (!token || !t) {
      v.token = { source: "none", fits: false, message: `There is no token: the backup holds none and ${opts.hostTokenPath} is missing or empty.` };
      return {
        verification: v,
        ok: false,
        failure: `There is no k3s token to run the restored datastore with: the backup holds none and ${opts.hostTokenPath} is missing. Put the cluster's token there (from your records) and try again. Nothing on the server changed.`,
      };
    }
    v.token = { source: archiveToken ? "archive" : "host", fits: t.fits, message: t.message };
    if (t.noBootstrap) warnings.push(t.message);
    if (!t.fits)
      return {
        verification: v,
        ok: false,
        failure: `The ${archiveToken ? "backup's" : `host's (${opts.hostTokenPath})`} token does not fit: ${TOKEN_MISMATCH}. ${archiveToken ? "" : "Restore a backup that holds its token, or put the token this datastore was made with in place. "}Nothing on the server changed.`,
      };
    if (staged.tokenPath && !opts.useArchiveToken) warnings.push("The backup's token was not chosen; the host's token is kept (it opens the datastore).");
    if (statSync(staged.dbPath).size === 0) warnings.push("The staged database file is empty.");
    return { verification: v, ok: true, failure: null };
  } finally {
    db?.close();
  }
}
