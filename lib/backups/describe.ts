/**
 * Words for sizes and durations in anomaly reasons. Pure; shared by the catalog and its pages so a
 * reason reads the same in the API, the table and the detail page.
 */

/** A byte count in decimal units (like S3 consoles and the incident write-up): [value, unit]. */
export function scaleBytes(n: number): [number, string] {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let v = n;
  let u = 0;
  while (Math.abs(v) >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return [v, units[u]];
}

/** `228.3 KB`, `1.08 MB`: precise enough to compare two sizes in a reason. */
export function describeBytes(n: number): string {
  if (!Number.isFinite(n)) return "—";
  const [v, unit] = scaleBytes(n);
  if (unit === "B") return `${v} B`;
  return `${v.toFixed(v >= 100 ? 1 : 2)} ${unit}`;
}

/** `36 h`, `2 days`, `45 min` — coarse on purpose: backup intervals are hours or days. */
export function describeDuration(ms: number): string {
  const min = ms / 60_000;
  if (min < 1) return `${Math.max(0, Math.round(ms / 1000))} s`;
  if (min < 90) return `${Math.round(min)} min`;
  const h = min / 60;
  if (h < 48) return `${Number.isInteger(Math.round(h * 10) / 10) ? Math.round(h) : (Math.round(h * 10) / 10).toFixed(1)} h`;
  const d = h / 24;
  const days = Math.round(d * 10) / 10;
  return `${Number.isInteger(days) ? days : days.toFixed(1)} days`;
}

/** `1.61×` */
export function describeRatio(r: number): string {
  return `${r >= 10 ? r.toFixed(1) : r.toFixed(2)}×`;
}
