import type Database from "better-sqlite3";
import type { KineStats } from "../../lib/contracts/manifest";
import { bootstrapKey, decryptBootstrap, decryptWithPassphrase, storageKey } from "../kine/bootstrap";
import { readKineStats } from "../kine/stats";
import { openReadOnly } from "../sqlite/check";

/**
 * What the verify step reads from a staged database besides integrity_check: kine's shape, its
 * statistics and whether a token opens its bootstrap data. A full scan of the kine table, so
 * verify.ts runs it on a worker thread (the SQLite worker's "inspect" task) beside the one that runs
 * integrity_check.
 */

export const TOKEN_MISMATCH =
  "this token cannot open this datastore (k3s would refuse to start with 'bootstrap data already found and encrypted with different token')";

/** Whether a token opens the datastore's bootstrap data. */
export interface TokenFit {
  fits: boolean;
  message: string;
  noBootstrap: boolean;
}

/** Whether `token` opens the bootstrap data in `db`. Throws SQLite's error when the rows cannot be read. */
export function checkToken(db: Database.Database, token: string): TokenFit {
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
  if (!row?.value) {
    // Older k3s stored the data under the hash of the empty string (a server started without a token)
    // or of the whole token (before tokens were normalized); k3s moves it to the token's key when it
    // starts, decrypting it with that passphrase (pkg/cluster/storage.go, migrateOldTokens).
    for (const passphrase of ["", token.trim()]) {
      const old = rows.find((r) => r.name === storageKey(passphrase));
      if (!old?.value) continue;
      try {
        decryptWithPassphrase(passphrase, Buffer.from(old.value));
        return {
          fits: true,
          noBootstrap: false,
          message: "The datastore's bootstrap data, stored by an older k3s, decrypts; k3s moves it to this token's key when it starts.",
        };
      } catch {
        return { fits: false, noBootstrap: false, message: TOKEN_MISMATCH };
      }
    }
    return { fits: false, noBootstrap: false, message: TOKEN_MISMATCH };
  }
  try {
    decryptBootstrap(token, Buffer.from(row.value));
    return { fits: true, noBootstrap: false, message: "The token decrypts the datastore's bootstrap data." };
  } catch {
    return { fits: false, noBootstrap: false, message: TOKEN_MISMATCH };
  }
}

export interface StagedInspection {
  /** The file could not be opened or its schema read (SQLite's words); nothing else was read. */
  readError: string | null;
  /** The kine table's columns (empty: no kine table). */
  columns: string[];
  compactRows: number;
  maxId: number;
  /** Null when the table could not be scanned (integrity_check says why). */
  stats: KineStats | null;
  /** Null when no token was given. */
  token: TokenFit | null;
  tokenError: string | null;
}

/** Reads the staged database at `dbPath` (and checks `token` against it when given). Never throws: failures are in the result. */
export function inspectStaged(dbPath: string, token: string | null): StagedInspection {
  const out: StagedInspection = { readError: null, columns: [], compactRows: 0, maxId: 0, stats: null, token: null, tokenError: null };
  let db: Database.Database | undefined;
  try {
    try {
      db = openReadOnly(dbPath);
      out.columns = (db.pragma("table_info(kine)") as { name: string }[]).map((c) => c.name);
      if (out.columns.length) {
        out.compactRows = db.prepare("SELECT COUNT(*) FROM kine WHERE name = 'compact_rev_key'").pluck().get() as number;
        out.maxId = (db.prepare("SELECT IFNULL(MAX(id), 0) FROM kine").pluck().get() as number) ?? 0;
      }
    } catch (err) {
      out.readError = (err as Error)?.message ?? String(err);
      return out;
    }
    if (!out.columns.length) return out;
    try {
      out.stats = readKineStats(db, dbPath);
    } catch {
      // A damaged table: integrity_check says what is wrong.
    }
    if (token) {
      try {
        out.token = checkToken(db, token);
      } catch (err) {
        out.tokenError = (err as Error)?.message ?? String(err);
      }
    }
    return out;
  } finally {
    db?.close();
  }
}
