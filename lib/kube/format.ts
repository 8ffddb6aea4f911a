import type { DrainOptions, Resources } from "../contracts/nodes";

/** Pure text helpers, safe to import from browser code. */

/** "250m CPU, 256 MiB" — requests as a person reads them (pure). */
export function formatResources(r: Resources): string {
  const cpu = r.cpuMillis >= 1000 && r.cpuMillis % 1000 === 0 ? `${r.cpuMillis / 1000} CPU` : `${r.cpuMillis}m CPU`;
  const mib = r.memoryBytes / 2 ** 20;
  const mem = mib >= 1024 ? `${(mib / 1024).toFixed(1)} GiB` : `${Math.round(mib)} MiB`;
  return `${cpu}, ${mem}`;
}

/**
 * The `kubectl drain` command with the same choices; `skipWaitForDeleteTimeout` (seconds) when the
 * drain stopped waiting for pods its NotReady node's kubelet could not confirm.
 */
export function drainCommand(node: string, o: DrainOptions, skipWaitForDeleteTimeout?: number): string {
  return [
    "kubectl drain",
    node,
    "--ignore-daemonsets",
    o.deleteEmptyDirData ? "--delete-emptydir-data" : "",
    o.force ? "--force" : "",
    `--timeout=${o.timeoutSeconds}s`,
    skipWaitForDeleteTimeout !== undefined ? `--skip-wait-for-delete-timeout=${skipWaitForDeleteTimeout}` : "",
  ]
    .filter(Boolean)
    .join(" ");
}
