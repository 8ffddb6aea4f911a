import { lstatSync, promises as fsp } from "node:fs";
import path from "node:path";
import type { OwnershipEntry } from "../../lib/contracts/agent-health";
import { fsyncPath } from "../../lib/storage/durable-file";
import type { AgentConfig } from "../config";

/**
 * Owner and mode of k3s's datastore files. The incident's database was owned by pi:pi instead of
 * root:root; k3s (as root) still opens such a file, so nothing fails until something does. Health
 * reports every mismatch with the exact command that fixes it; restores and rollbacks apply it.
 */

export const FILE_MODE = 0o600;
export const DIR_MODE = 0o700;

export interface Owner {
  uid: number;
  gid: number;
}

/** "0600" */
export function modeString(mode: number): string {
  return "0" + (mode & 0o7777).toString(8).padStart(3, "0");
}

/** Quotes a path for a shell command shown to the user. */
export function shellQuote(p: string): string {
  return /^[A-Za-z0-9_./:@%+=-]+$/.test(p) ? p : `'${p.replace(/'/g, `'\\''`)}'`;
}

/** Compares one path's owner and mode with the expected ones (it is fine for it not to exist unless `required`). */
export function inspectPath(p: string, expected: Owner, expectedMode: number, required = false): OwnershipEntry {
  const want = modeString(expectedMode);
  let st;
  try {
    st = lstatSync(p);
  } catch {
    return {
      path: p,
      exists: false,
      kind: null,
      uid: null,
      gid: null,
      mode: null,
      expectedMode: want,
      ok: !required,
      problem: required ? `${p} does not exist` : null,
      fix: null,
    };
  }
  const kind = st.isFile() ? "file" : st.isDirectory() ? "directory" : st.isSymbolicLink() ? "symlink" : "other";
  const problems: string[] = [];
  if (st.uid !== expected.uid || st.gid !== expected.gid) problems.push(`owned by ${st.uid}:${st.gid}, expected ${expected.uid}:${expected.gid}`);
  if ((st.mode & 0o7777) !== expectedMode) problems.push(`mode ${modeString(st.mode)}, expected ${want}`);
  if (kind === "symlink" || kind === "other") problems.push(`is a ${kind}, expected a regular ${expectedMode === DIR_MODE ? "directory" : "file"}`);
  const q = shellQuote(p);
  return {
    path: p,
    exists: true,
    kind,
    uid: st.uid,
    gid: st.gid,
    mode: modeString(st.mode),
    expectedMode: want,
    ok: problems.length === 0,
    problem: problems.length ? `${p}: ${problems.join("; ")}` : null,
    fix: problems.length && kind !== "symlink" && kind !== "other" ? `chown ${expected.uid}:${expected.gid} ${q} && chmod ${want.slice(1)} ${q}` : null,
  };
}

/** The db directory, `state.db`, its `-wal`/`-shm` when present, and the token. */
export function inspectDatastoreOwnership(cfg: Pick<AgentConfig, "dbPath" | "tokenPath" | "owner">): OwnershipEntry[] {
  const dbDir = path.dirname(cfg.dbPath);
  return [
    inspectPath(dbDir, cfg.owner, DIR_MODE, true),
    inspectPath(cfg.dbPath, cfg.owner, FILE_MODE, true),
    inspectPath(`${cfg.dbPath}-wal`, cfg.owner, FILE_MODE),
    inspectPath(`${cfg.dbPath}-shm`, cfg.owner, FILE_MODE),
    inspectPath(cfg.tokenPath, cfg.owner, FILE_MODE, true),
  ];
}

/**
 * Sets owner and mode on `root` and everything below it (files `fileMode`, directories `dirMode`)
 * and fsyncs each of them. Symlinks and special files are left alone, never followed (a restore
 * never creates them; a rollback may put back a directory that had some). Throws on any chown/chmod
 * error, and when `root` itself is not a regular file or directory.
 */
export async function applyOwnership(root: string, owner: Owner, modes: { file: number; dir: number } = { file: FILE_MODE, dir: DIR_MODE }): Promise<number> {
  let count = 0;
  const visit = async (p: string): Promise<void> => {
    const st = await fsp.lstat(p);
    if (st.isSymbolicLink() || (!st.isFile() && !st.isDirectory())) {
      if (p === root) throw new Error(`${p} is not a regular file or directory; refusing to change its owner.`);
      return;
    }
    await fsp.chown(p, owner.uid, owner.gid);
    await fsp.chmod(p, st.isDirectory() ? modes.dir : modes.file);
    if (st.isDirectory()) for (const name of await fsp.readdir(p)) await visit(path.join(p, name));
    fsyncPath(p);
    count++;
  };
  await visit(root);
  return count;
}
