import { promises as fsp } from "node:fs";
import path from "node:path";
import type { DiskSpace } from "../../lib/contracts/agent-health";

/**
 * Filesystems on the host: whether two paths share one (a rename between them is atomic, no copy)
 * and how much room a directory has.
 */

/** The nearest existing ancestor of `p` (itself when it exists). Never throws. */
export async function existingAncestor(p: string): Promise<string> {
  let cur = path.resolve(p);
  for (;;) {
    if (await fsp.stat(cur).catch(() => null)) return cur;
    const up = path.dirname(cur);
    if (up === cur) return cur;
    cur = up;
  }
}

/** True when `a` and `b` (or their nearest existing ancestors) are on the same filesystem. Rejects when neither can be stat'ed. */
export async function sameFilesystem(a: string, b: string): Promise<boolean> {
  const [sa, sb] = await Promise.all([fsp.stat(await existingAncestor(a)), fsp.stat(await existingAncestor(b))]);
  return sa.dev === sb.dev;
}

/**
 * Free space in `stagingDir` (where restores stage, see agent/restore/paths.ts), and whether a
 * database of `dbBytes` fits (staged copy + the archive, about 2×). Rejects when statfs fails.
 */
export async function diskSpace(stagingDir: string, serverDir: string, dbBytes: number): Promise<DiskSpace> {
  const st = await fsp.statfs(await existingAncestor(stagingDir));
  const freeBytes = st.bavail * st.bsize;
  const neededForStaging = Math.ceil(dbBytes * 2 + 16 * 1024 * 1024);
  return {
    stagingDir,
    freeBytes,
    totalBytes: st.blocks * st.bsize,
    sameFilesystemAsServer: await sameFilesystem(stagingDir, serverDir),
    neededForStaging,
    enoughForStaging: freeBytes >= neededForStaging,
  };
}
