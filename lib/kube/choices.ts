import type { DrainChoice, PodSummary } from "../contracts/nodes";

/**
 * The pods of a node that need an explicit choice before a drain, as `kubectl drain` asks:
 * pods no controller manages (`--force`) and pods with emptyDir data (`--delete-emptydir-data`).
 * DaemonSet and static pods are left in place, so they never need one. Pure and browser-safe.
 */
export function drainChoices(pods: Pick<PodSummary, "namespace" | "name" | "kind" | "nodeLocalVolumes">[]): DrainChoice[] {
  const out: DrainChoice[] = [];
  for (const p of pods) {
    if (p.kind === "daemonset" || p.kind === "mirror") continue;
    if (p.kind === "unmanaged")
      out.push({ namespace: p.namespace, name: p.name, reason: "unmanaged", detail: "No controller manages this pod: once evicted, nothing recreates it." });
    const empty = p.nodeLocalVolumes.filter((v) => v.kind === "emptyDir").map((v) => v.volume);
    if (empty.length && p.kind !== "finished")
      out.push({
        namespace: p.namespace,
        name: p.name,
        reason: "emptyDir",
        detail: `Uses emptyDir volume${empty.length > 1 ? "s" : ""} ${empty.join(", ")}: that data is deleted with the pod.`,
      });
  }
  return out;
}
