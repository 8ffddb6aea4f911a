import { promises as fsp } from "node:fs";
import path from "node:path";
import type { DiskSpace } from "../../lib/contracts/agent-health";
import type { AgentConfig } from "../config";

/**
 * Where restores stage their files, and whether the disk has room. Staging must be on the server
 * dir's filesystem so the swap is a rename (atomic, no copy) rather than a copy that can be cut short.
 */

/** The restores' home: journals and staging, below LIFEBOAT_STATE_DIR. */
export function restoresRoot(cfg: Pick<AgentConfig, "stateDir">): string {
  return path.join(cfg.stateDir, "restores");
}

/** The nearest existing ancestor of `p` (itself when it exists). */
async function existingAncestor(p: string): Promise<string> {
  let cur = path.resolve(p);
  for (;;) {
    if (await fsp.stat(cur).catch(() => null)) return cur;
    const up = path.dirname(cur);
    if (up === cur) return cur;
    cur = up;
  }
}

/** True when `a` and `b` (or their nearest existing ancestors) are on the same filesystem. */
export async function sameFilesystem(a: string, b: string): Promise<boolean> {
  const [sa, sb] = await Promise.all([fsp.stat(await existingAncestor(a)), fsp.stat(await existingAncestor(b))]);
  return sa.dev === sb.dev;
}

/**
 * The directory a restore stages into: below LIFEBOAT_STATE_DIR when that is on the server dir's
 * filesystem, else next to the server dir (`<server>/../.lifeboat-staging`), which always is.
 */
export async function stagingParent(cfg: Pick<AgentConfig, "stateDir" | "serverDir">): Promise<string> {
  const preferred = restoresRoot(cfg);
  if (await sameFilesystem(preferred, cfg.serverDir)) return preferred;
  return path.join(path.dirname(cfg.serverDir), ".lifeboat-staging");
}

/** Free space where restores stage, and whether a database of `dbBytes` fits (staged copy + the archive, about 2×). */
export async function diskSpace(cfg: Pick<AgentConfig, "stateDir" | "serverDir">, dbBytes: number): Promise<DiskSpace> {
  const dir = await stagingParent(cfg);
  const st = await fsp.statfs(await existingAncestor(dir));
  const freeBytes = st.bavail * st.bsize;
  const neededForStaging = Math.ceil(dbBytes * 2 + 16 * 1024 * 1024);
  return {
    stagingDir: dir,
    freeBytes,
    totalBytes: st.blocks * st.bsize,
    sameFilesystemAsServer: await sameFilesystem(dir, cfg.serverDir),
    neededForStaging,
    enoughForStaging: freeBytes >= neededForStaging,
  };
}
