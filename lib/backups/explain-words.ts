import { scaleBytes } from "./describe";

/**
 * Words for growth explanations (pure): signed numbers, sizes, approximate dates, and what a key
 * prefix holds ("pods", "events"), so every explanation reads the same on the page, in the API and
 * in alerts.
 */

/** `41,000` */
export const count = (n: number): string => Math.round(n).toLocaleString("en-US");

/** `+41,000`, `−1,200` (a real minus sign), `0` */
export function signedCount(n: number): string {
  return n > 0 ? `+${count(n)}` : n < 0 ? `−${count(-n)}` : "0";
}

/** `38 MB`, `8.2 MB`, `512 B`: one decimal below 10 of the unit. */
export function bytes(n: number): string {
  const [v, unit] = scaleBytes(Math.abs(n));
  const text = unit === "B" ? String(Math.round(v)) : v >= 10 ? v.toFixed(0) : v.toFixed(1);
  return `${n < 0 ? "−" : ""}${text} ${unit}`;
}

/** `+38 MB`, `−1.5 MB` */
export function signedBytes(n: number): string {
  return n > 0 ? `+${bytes(n)}` : bytes(n);
}

/** `2024-12-15` when `precise` is false, else `2024-12-15 09:30 UTC`. */
export function day(t: Date, precise = false): string {
  const iso = t.toISOString();
  return precise ? `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC` : iso.slice(0, 10);
}

/** `12 %` (whole percent of `part` in `whole`; 0 when whole is 0). */
export function percent(part: number, whole: number): string {
  return `${whole > 0 ? Math.round((part / whole) * 100) : 0} %`;
}

/** What kine stores under a prefix, in the plural: `/registry/pods` → "pods", `/registry/minions` → "nodes". */
export function prefixNoun(prefix: string): string {
  const known: Record<string, string> = {
    "/registry/minions": "nodes",
    "/registry/services/specs": "services",
    "/registry/services/endpoints": "endpoints",
    "/registry/bootstrap": "bootstrap keys",
    "gap-*": "gap markers",
  };
  if (known[prefix]) return known[prefix];
  if (prefix.startsWith("/bootstrap")) return "bootstrap keys";
  const last = prefix.split("/").filter(Boolean).pop() ?? prefix;
  // CRDs are stored under their group name (`/registry/widgets.example.com`): the resource is first.
  return last.split(".")[0] || last;
}

/** The singular of a plural resource noun, for counts of one ("1 new pod", "1 new ingress"). */
export function singular(noun: string): string {
  if (noun.endsWith("ies")) return noun.slice(0, -3) + "y";
  if (/(ss|ch|sh|x)es$/.test(noun)) return noun.slice(0, -2);
  if (noun.endsWith("s") && !noun.endsWith("ss")) return noun.slice(0, -1);
  return noun;
}

/** `40 new pods`, `1 new pod`, `3 fewer secrets` */
export function objectCount(delta: number, noun: string): string {
  const n = Math.abs(delta);
  return `${count(n)} ${delta < 0 ? "fewer" : "new"} ${n === 1 ? singular(noun) : noun}`;
}

/** `apps` from `/registry/events/apps`: the segment after the resource, which is the namespace of namespaced objects. */
export function namespaceOf(subPrefix: string): string | null {
  const parts = subPrefix.split("/").filter(Boolean);
  return parts.length >= 3 ? parts[2] : null;
}
