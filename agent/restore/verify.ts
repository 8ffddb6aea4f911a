import { readFileSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import type { RestoreVerification } from "../../lib/contracts/agent-restore";
import { KINE_COLUMNS } from "../kine/schema";
import { runOffThread, startSqliteChecker, type SqliteChecker } from "../sqlite/worker";
import type { StagedFiles } from "./stage";
import { TOKEN_MISMATCH, type StagedInspection } from "./stage-inspect";

export { TOKEN_MISMATCH, checkToken } from "./stage-inspect";

/**
 * Verify step: the staged database must pass a full integrity_check, look like kine, and the token
 * the restored server will run with must open the datastore's bootstrap data. k3s keeps its CA
 * certificates and keys there, encrypted with the token; with the wrong token k3s refuses to start.
 * The SQLite work runs on two worker threads side by side (integrity_check; shape, statistics and
 * token), never on the agent's main thread.
 */

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
  // The full integrity_check runs on one worker while another reads kine's shape, statistics and token.
  const own = opts.checker ? null : startSqliteChecker();
  const integrity = (opts.checker ?? own!).check(staged.dbPath, "integrity_check").finally(() => own?.dispose());
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
  const archiveToken = opts.useArchiveToken && staged.tokenPath ? readToken(staged.tokenPath) : null;
  // An empty token file in the backup is no token: the host's is checked and kept (stage-and-verify
  // installs the backup's token only when it is the one checked here).
  if (opts.useArchiveToken && staged.tokenPath && !archiveToken)
    warnings.push(`The backup's token file is empty; the host's token (${opts.hostTokenPath}) is checked and kept instead.`);
  const hostToken = archiveToken ? null : readToken(opts.hostTokenPath);
  const token = archiveToken ?? hostToken;
  const ins: StagedInspection = await runOffThread({ kind: "inspect", dbPath: staged.dbPath, token }).catch((err: unknown) => ({
    readError: (err as Error)?.message ?? String(err),
    columns: [],
    compactRows: 0,
    maxId: 0,
    stats: null,
    token: null,
    tokenError: null,
  }));
  if (ins.readError) {
    const bad = await integrityFailure();
    return (
      bad ?? {
        verification: v,
        ok: false,
        failure: `The backup's database cannot be read (${ins.readError}). Restore another backup. Nothing on the server changed.`,
      }
    );
  }
  const cols = ins.columns;
  // compact_rev_key is not asked for: kine before 2020 wrote it at its first compaction only, and
  // sometimes twice; kine adds or deduplicates it when it starts (k3s-io/kine sqllog compactStart).
  v.looksLikeKine = cols.join(",") === KINE_COLUMNS.join(",") && ins.maxId > 0;
  if (!v.looksLikeKine) {
    const bad = await integrityFailure();
    if (bad) return bad;
    const why = !cols.length
      ? "it has no kine table"
      : cols.join(",") !== KINE_COLUMNS.join(",")
        ? `its kine table has the columns ${cols.join(", ")}`
        : "its kine table is empty";
    return { verification: v, ok: false, failure: `The backup's database is not a k3s (kine) datastore: ${why}. Nothing on the server changed.` };
  }
  v.stats = ins.stats;
  // The token's verdict counts only once integrity_check passed (on a damaged table, integrity_check's findings come first).
  const bad = await integrityFailure();
  if (bad) return bad;
  if (ins.tokenError) throw new Error(ins.tokenError);
  const t = ins.token;
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
}
