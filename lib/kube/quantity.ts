/**
 * Kubernetes resource quantities ("250m", "1.5", "512Mi", "1G", "2e3") as plain numbers: CPU in
 * millicores, everything else in base units (bytes, pods). Pure; used for allocatable vs requested.
 */

const BINARY: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };
const DECIMAL: Record<string, number> = { n: 1e-9, u: 1e-6, m: 1e-3, "": 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18 };

/** The value of a quantity in base units (e.g. "512Mi" → 536870912, "250m" → 0.25). Throws on a malformed quantity. */
export function parseQuantity(q: string | number): number {
  if (typeof q === "number") return q;
  const m = /^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E))?$/.exec(q.trim());
  if (!m) throw new Error(`not a Kubernetes quantity: ${JSON.stringify(q)}`);
  const n = Number(m[1]);
  if (m[2]) return n * 10 ** Number(m[2].slice(1));
  const suffix = m[3] ?? "";
  return n * (BINARY[suffix] ?? DECIMAL[suffix]);
}

/** CPU quantity in millicores, rounded up like the scheduler does ("100m" → 100, "1" → 1000). */
export function cpuMillis(q: string | number | undefined): number {
  if (q === undefined) return 0;
  return Math.ceil(Math.round(parseQuantity(q) * 1e6) / 1e3);
}

/** Memory (or any byte) quantity in bytes ("128Mi" → 134217728). */
export function bytes(q: string | number | undefined): number {
  if (q === undefined) return 0;
  return Math.ceil(parseQuantity(q));
}

/** A count quantity such as allocatable pods ("110"). */
export function count(q: string | number | undefined): number {
  if (q === undefined) return 0;
  return Math.floor(parseQuantity(q));
}

export interface Requests {
  cpuMillis: number;
  memoryBytes: number;
}

interface ContainerLike {
  resources?: { requests?: Record<string, string | number> | { [k: string]: unknown } };
}

const requestsOf = (c: ContainerLike): Requests => {
  const r = (c.resources?.requests ?? {}) as Record<string, string | number | undefined>;
  return { cpuMillis: cpuMillis(r.cpu), memoryBytes: bytes(r.memory) };
};

/**
 * What a pod asks the scheduler for: the sum over its containers, or the largest init container
 * when that is bigger (init containers run one at a time before the others), per resource.
 */
export function podRequests(spec: { containers?: ContainerLike[]; initContainers?: ContainerLike[] } | undefined): Requests {
  const sum = (spec?.containers ?? [])
    .map(requestsOf)
    .reduce((a, b) => ({ cpuMillis: a.cpuMillis + b.cpuMillis, memoryBytes: a.memoryBytes + b.memoryBytes }), { cpuMillis: 0, memoryBytes: 0 });
  for (const init of (spec?.initContainers ?? []).map(requestsOf)) {
    sum.cpuMillis = Math.max(sum.cpuMillis, init.cpuMillis);
    sum.memoryBytes = Math.max(sum.memoryBytes, init.memoryBytes);
  }
  return sum;
}
