import { formatAge } from "@/components/ui/format";
import type { NodeSummary, Resources } from "@/lib/contracts/nodes";

/** "4 s ago", never "in the future" when the browser's clock trails the server's by a moment. */
export const ago = (iso: string, now: Date = new Date()) => formatAge(iso, new Date(Math.max(now.getTime(), new Date(iso).getTime())));

/** Display helpers for the node pages (pure). */

/** kubectl-style age: "45s", "12m", "5h", "412d". */
export function shortAge(iso: string | null, now: Date = new Date()): string {
  if (!iso) return "—";
  const s = Math.max(0, Math.round((now.getTime() - new Date(iso).getTime()) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172_800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86_400)}d`;
}

export function cpu(millis: number): string {
  if (millis === 0) return "0";
  if (millis % 1000 === 0) return `${millis / 1000}`;
  return millis >= 1000 ? `${(millis / 1000).toFixed(2).replace(/0+$/, "")}` : `${millis}m`;
}

export function mem(bytes: number): string {
  const mib = bytes / 2 ** 20;
  if (mib >= 1024) return `${(mib / 1024).toFixed(1)} GiB`;
  return `${Math.round(mib)} MiB`;
}

export const requestsText = (r: Resources) => (r.cpuMillis || r.memoryBytes ? `${cpu(r.cpuMillis)} CPU · ${mem(r.memoryBytes)}` : "none");

/** "worker" for a node without role labels (a plain k3s agent). */
export const rolesText = (n: Pick<NodeSummary, "roles">) => (n.roles.length ? n.roles.join(", ") : "worker");
