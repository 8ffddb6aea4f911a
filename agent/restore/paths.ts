import path from "node:path";
import type { AgentConfig } from "../config";
import { sameFilesystem } from "../host/disk";

/**
 * Where restores keep their journals and stage their files. Staging must be on the server dir's
 * filesystem so the swap is a rename (atomic, no copy) rather than a copy that can be cut short.
 */

/** The restores' home: journals and staging, below LIFEBOAT_STATE_DIR. */
export function restoresRoot(cfg: Pick<AgentConfig, "stateDir">): string {
  return path.join(cfg.stateDir, "restores");
}

/**
 * The directory a restore stages into: below LIFEBOAT_STATE_DIR when that is on the server dir's
 * filesystem, else next to the server dir (`<server>/../.lifeboat-staging`), which always is.
 * Rejects when neither path can be stat'ed.
 */
export async function stagingParent(cfg: Pick<AgentConfig, "stateDir" | "serverDir">): Promise<string> {
  const preferred = restoresRoot(cfg);
  if (await sameFilesystem(preferred, cfg.serverDir)) return preferred;
  return path.join(path.dirname(cfg.serverDir), ".lifeboat-staging");
}
