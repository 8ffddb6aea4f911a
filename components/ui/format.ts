/** Formatting helpers shared by pages (pure; safe on server and client). */
import { scaleBytes } from "@/lib/backups/describe";

/** `228 MB`, `54.1 MB`, `3.62 KB`: fewer digits than describeBytes, for tables and axes. */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return "—";
  const [v, unit] = scaleBytes(n);
  return `${unit === "B" ? v : v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2)} ${unit}`;
}

/** "3 min ago", "2 h ago", "5 days ago" relative to `now`. */
export function formatAge(iso: string | Date, now: Date = new Date()): string {
  const t = typeof iso === "string" ? new Date(iso) : iso;
  const s = Math.round((now.getTime() - t.getTime()) / 1000);
  if (Number.isNaN(s)) return "unknown age";
  if (s < 0) return "in the future";
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400 * 2) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} days ago`;
}

/** `2024-12-18 00:00 UTC`. */
/** `2026-12-03 11:58 UTC`; with `seconds`, `2026-12-03 11:58:07 UTC` (for answers a user asks for again and must see change). */
export function formatTime(iso: string | Date, opts: { seconds?: boolean } = {}): string {
  const t = typeof iso === "string" ? new Date(iso) : iso;
  // A time another writer put in a manifest may be no date: shown as written, never a RangeError that breaks the page.
  if (Number.isNaN(t.getTime())) return typeof iso === "string" ? iso : "unknown time";
  return (
    t
      .toISOString()
      .slice(0, opts.seconds ? 19 : 16)
      .replace("T", " ") + " UTC"
  );
}

export function formatNumber(n: number): string {
  return n.toLocaleString("en-US");
}
