/**
 * Label selectors as the Kubernetes API defines them: the object form used by PodDisruptionBudgets
 * (matchLabels + matchExpressions) and the string form of `?labelSelector=`. Pure.
 */

export interface LabelSelectorRequirement {
  key: string;
  operator: string;
  values?: string[];
}
export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: LabelSelectorRequirement[];
}

const requirementMatches = (labels: Record<string, string>, r: LabelSelectorRequirement): boolean => {
  const has = Object.prototype.hasOwnProperty.call(labels, r.key);
  switch (r.operator) {
    case "In":
      return has && (r.values ?? []).includes(labels[r.key]);
    case "NotIn":
      return !has || !(r.values ?? []).includes(labels[r.key]);
    case "Exists":
      return has;
    case "DoesNotExist":
      return !has;
    default:
      return false;
  }
};

/**
 * Whether `labels` satisfy a selector object. An empty selector (`{}`) matches everything, a
 * missing one (`undefined`/`null`) matches nothing — the policy/v1 PodDisruptionBudget semantics.
 */
export function matchesSelector(selector: LabelSelector | null | undefined, labels: Record<string, string> | undefined): boolean {
  if (!selector) return false;
  const l = labels ?? {};
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (l[k] !== v) return false;
  return (selector.matchExpressions ?? []).every((r) => requirementMatches(l, r));
}

/**
 * Parses the string form (`app=web,tier!=db,env in (a,b),!legacy,release`) into requirements.
 * Throws with a message like the API server's on a malformed selector.
 */
export function parseLabelSelector(s: string): LabelSelectorRequirement[] {
  const out: LabelSelectorRequirement[] = [];
  let i = 0;
  const src = s.trim();
  const fail = (why: string): never => {
    throw new Error(`unable to parse requirement: ${why}`);
  };
  const key = /^[A-Za-z0-9][-A-Za-z0-9_./]*/;
  while (i < src.length) {
    while (src[i] === " ") i++;
    let neg = false;
    if (src[i] === "!") {
      neg = true;
      i++;
    }
    const km = key.exec(src.slice(i));
    if (!km) fail(`expected a label key at position ${i} in ${JSON.stringify(s)}`);
    const k = km![0];
    i += k.length;
    while (src[i] === " ") i++;
    if (neg) {
      out.push({ key: k, operator: "DoesNotExist" });
    } else if (i >= src.length || src[i] === ",") {
      out.push({ key: k, operator: "Exists" });
    } else if (src.startsWith("!=", i) || src.startsWith("==", i) || src[i] === "=") {
      const op = src.startsWith("!=", i) ? "NotIn" : "In";
      i += src.startsWith("!=", i) || src.startsWith("==", i) ? 2 : 1;
      const vm = /^[A-Za-z0-9_.-]*/.exec(src.slice(i))!;
      i += vm[0].length;
      out.push({ key: k, operator: op, values: [vm[0]] });
    } else {
      const om = /^(in|notin)\s*\(([^)]*)\)/.exec(src.slice(i));
      if (!om) fail(`unexpected ${JSON.stringify(src.slice(i))} after key ${k}`);
      i += om![0].length;
      out.push({
        key: k,
        operator: om![1] === "in" ? "In" : "NotIn",
        values: om![2]
          .split(",")
          .map((v) => v.trim())
          .filter(Boolean),
      });
    }
    while (src[i] === " ") i++;
    if (i < src.length) {
      if (src[i] !== ",") fail(`expected ',' at position ${i} in ${JSON.stringify(s)}`);
      i++;
    }
  }
  return out;
}

/** Whether labels satisfy every requirement of a parsed string selector. */
export function matchesRequirements(reqs: LabelSelectorRequirement[], labels: Record<string, string> | undefined): boolean {
  const l = labels ?? {};
  return reqs.every((r) => requirementMatches(l, r));
}
