/**
 * RBAC for the simulated API server: a request is allowed when one of the user's PolicyRules (the
 * `rules` of a ClusterRole, as shipped in deploy/kubernetes/) matches its API group, resource (with
 * the subresource after a slash, "pods/eviction") and verb, as kube-apiserver's RBAC authorizer
 * decides it; "*" matches anything. Pure.
 */

export interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  verbs: string[];
  resourceNames?: string[];
}

/** One authorization question: verb on group/resource (name when the request names an object). */
export interface Attributes {
  verb: string;
  group: string;
  resource: string;
  name?: string;
}

const has = (list: string[] | undefined, value: string) => !!list && (list.includes("*") || list.includes(value));

/** True when one rule allows the request (resourceNames narrow a rule to those objects, never list). */
export function rbacAllows(rules: PolicyRule[], a: Attributes): boolean {
  return rules.some(
    (r) =>
      has(r.verbs, a.verb) &&
      has(r.apiGroups, a.group) &&
      has(r.resources, a.resource) &&
      (!r.resourceNames?.length || (a.name !== undefined && r.resourceNames.includes(a.name))),
  );
}

/** kube-apiserver's words for a denied request. */
export function forbiddenMessage(user: string, a: Attributes & { namespace?: string; plural: string }): string {
  const scope = a.namespace ? `in the namespace "${a.namespace}"` : "at the cluster scope";
  return `${a.plural}${a.group ? "." + a.group : ""}${a.name ? ` "${a.name}"` : ""} is forbidden: User "${user}" cannot ${a.verb} resource "${a.resource}" in API group "${a.group}" ${scope}`;
}
