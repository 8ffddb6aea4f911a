import type { IncomingHttpHeaders } from "node:http";
import { SimulatedCluster, isPodReady, key, type KObj } from "./cluster";
import { jsonMergePatch, jsonPatch, PatchError, strategicMergePatch } from "./patch";
import { forbiddenMessage, rbacAllows, type PolicyRule } from "./rbac";
import { matchesRequirements, matchesSelector, parseLabelSelector } from "../selectors";

/**
 * What the simulated API server answers: the subset of the core/v1, apps/v1 and policy/v1 API that
 * Lifeboat (and `kubectl cordon/drain/delete`) use, with kube-apiserver's status codes and `Status`
 * bodies, bearer-token authentication and RBAC (a deny list for tests, or the allow rules of a
 * ClusterRole). No sockets here: api-server.ts serves it over HTTPS.
 */

export interface ForbiddenRule {
  verb: string;
  /** Plural resource, with the subresource after a slash: "nodes", "pods/eviction". */
  resource: string;
}

/** One request as the handler sees it. */
export interface ApiRequest {
  method: string;
  url: URL;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface Answer {
  status: number;
  body: unknown;
}

/** Extra routes a caller serves beside the API (the demo's "a new node joins"); null: not theirs. */
export type ExtraRoute = (req: ApiRequest) => Answer | null | Promise<Answer | null>;

export interface ApiHandlerOptions {
  cluster: SimulatedCluster;
  token: string;
  user: string;
  gitVersion: string;
  /** Verbs the user may not use (answered 403 like RBAC); read on every request. */
  forbidden: () => ForbiddenRule[];
  /** When set, the only rules the user has (RBAC allow list, like a ClusterRole's); read on every request. */
  rbac: () => PolicyRule[] | null;
  extraRoutes?: ExtraRoute;
}

interface Resource {
  group: string;
  version: string;
  plural: string;
  kind: string;
  namespaced: boolean;
  verbs: string[];
  store: (c: SimulatedCluster) => Map<string, KObj>;
  fields: string[];
}

const RESOURCES: Resource[] = [
  {
    group: "",
    version: "v1",
    plural: "nodes",
    kind: "Node",
    namespaced: false,
    verbs: ["delete", "get", "list", "patch"],
    store: (c) => c.nodes,
    fields: ["metadata.name", "spec.unschedulable"],
  },
  {
    group: "",
    version: "v1",
    plural: "pods",
    kind: "Pod",
    namespaced: true,
    verbs: ["delete", "get", "list", "patch"],
    store: (c) => c.pods,
    fields: [
      "metadata.name",
      "metadata.namespace",
      "spec.nodeName",
      "spec.restartPolicy",
      "spec.schedulerName",
      "spec.serviceAccountName",
      "status.phase",
      "status.podIP",
      "status.nominatedNodeName",
    ],
  },
  {
    group: "",
    version: "v1",
    plural: "namespaces",
    kind: "Namespace",
    namespaced: false,
    verbs: ["get", "list"],
    store: (c) => c.namespaces,
    fields: ["metadata.name", "status.phase"],
  },
  {
    group: "",
    version: "v1",
    plural: "persistentvolumes",
    kind: "PersistentVolume",
    namespaced: false,
    verbs: ["get", "list"],
    store: (c) => c.pvs,
    fields: ["metadata.name"],
  },
  {
    group: "",
    version: "v1",
    plural: "persistentvolumeclaims",
    kind: "PersistentVolumeClaim",
    namespaced: true,
    verbs: ["get", "list"],
    store: (c) => c.pvcs,
    fields: ["metadata.name", "metadata.namespace"],
  },
  {
    group: "apps",
    version: "v1",
    plural: "daemonsets",
    kind: "DaemonSet",
    namespaced: true,
    verbs: ["get", "list"],
    store: (c) => c.daemonSets,
    fields: ["metadata.name", "metadata.namespace"],
  },
  {
    group: "policy",
    version: "v1",
    plural: "poddisruptionbudgets",
    kind: "PodDisruptionBudget",
    namespaced: true,
    verbs: ["get", "list"],
    store: (c) => c.pdbs,
    fields: ["metadata.name", "metadata.namespace"],
  },
];

const PATCH_TYPES = ["application/json-patch+json", "application/merge-patch+json", "application/strategic-merge-patch+json"];

/** An answer with a Status body (kube-apiserver's error format). */
export class StatusError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }
  body() {
    return {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: this.message,
      reason: this.reason,
      ...(this.details ? { details: this.details } : {}),
      code: this.code,
    };
  }
}

const notFound = (r: Resource, name: string) =>
  new StatusError(404, "NotFound", `${r.plural}${r.group ? "." + r.group : ""} "${name}" not found`, {
    name,
    ...(r.group ? { group: r.group } : {}),
    kind: r.plural,
  });

function getField(obj: KObj, field: string): string {
  let cur: unknown = obj;
  for (const part of field.split(".")) cur = (cur as Record<string, unknown> | undefined)?.[part];
  if (field === "spec.unschedulable") return cur ? "true" : "false";
  return cur === undefined || cur === null ? "" : String(cur);
}

/** `a=b,c!=d` over the fields a resource supports; unknown fields are a 400 like the real server. */
function fieldFilter(r: Resource, selector: string | null): (o: KObj) => boolean {
  if (!selector) return () => true;
  const terms = selector
    .split(",")
    .filter(Boolean)
    .map((t) => {
      const m = /^([^!=]+)(==|=|!=)(.*)$/.exec(t.trim());
      if (!m) throw new StatusError(400, "BadRequest", `invalid selector: '${selector}'; can't understand '${t}'`);
      if (!r.fields.includes(m[1])) throw new StatusError(400, "BadRequest", `field label not supported: ${m[1]}`);
      return { field: m[1], neg: m[2] === "!=", value: m[3] };
    });
  return (o) => terms.every((t) => (getField(o, t.field) === t.value) !== t.neg);
}

function labelFilter(selector: string | null): (o: KObj) => boolean {
  if (!selector) return () => true;
  let reqs;
  try {
    reqs = parseLabelSelector(selector);
  } catch (e) {
    throw new StatusError(400, "BadRequest", (e as Error).message);
  }
  return (o) => matchesRequirements(reqs, o.metadata.labels);
}

function discovery(gitVersion: string) {
  const resList = (group: string, version: string) => ({
    kind: "APIResourceList",
    apiVersion: "v1",
    groupVersion: group ? `${group}/${version}` : version,
    resources: [
      ...RESOURCES.filter((r) => r.group === group && r.version === version).map((r) => ({
        name: r.plural,
        singularName: r.kind.toLowerCase(),
        namespaced: r.namespaced,
        kind: r.kind,
        verbs: r.verbs,
        ...(r.plural === "pods"
          ? { shortNames: ["po"] }
          : r.plural === "nodes"
            ? { shortNames: ["no"] }
            : r.plural === "poddisruptionbudgets"
              ? { shortNames: ["pdb"] }
              : {}),
      })),
      ...(group === ""
        ? [{ name: "pods/eviction", singularName: "", namespaced: true, group: "policy", version: "v1", kind: "Eviction", verbs: ["create"] }]
        : []),
    ],
  });
  const group = (name: string) => ({
    name,
    versions: [{ groupVersion: `${name}/v1`, version: "v1" }],
    preferredVersion: { groupVersion: `${name}/v1`, version: "v1" },
  });
  const [major, minor] = gitVersion.replace(/^v/, "").split(".");
  return {
    "/version": {
      major,
      minor,
      gitVersion,
      gitCommit: "0000000",
      gitTreeState: "clean",
      buildDate: "2024-12-10T00:00:00Z",
      goVersion: "go1.22.9",
      compiler: "gc",
      platform: "linux/arm64",
    },
    "/api": { kind: "APIVersions", versions: ["v1"], serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress: "127.0.0.1:6443" }] },
    "/apis": { kind: "APIGroupList", apiVersion: "v1", groups: ["apps", "policy"].map(group) },
    "/apis/apps": { kind: "APIGroup", apiVersion: "v1", ...group("apps") },
    "/apis/policy": { kind: "APIGroup", apiVersion: "v1", ...group("policy") },
    "/api/v1": resList("", "v1"),
    "/apis/apps/v1": resList("apps", "v1"),
    "/apis/policy/v1": resList("policy", "v1"),
  } as Record<string, unknown>;
}

/** The API's request handler. Every answer is an Answer; bugs become a 500 Status naming them. */
export function makeApiHandler(opts: ApiHandlerOptions): (req: ApiRequest) => Promise<Answer> {
  const { cluster, token, user } = opts;
  const docs = discovery(opts.gitVersion);
  const handle = async (req: ApiRequest): Promise<Answer> => {
    const { url, body } = req;
    if (req.headers.authorization !== `Bearer ${token}`) throw new StatusError(401, "Unauthorized", "Unauthorized");
    const method = req.method ?? "GET";
    if (method === "GET" && docs[url.pathname]) return { status: 200, body: docs[url.pathname] };
    const extra = await opts.extraRoutes?.(req);
    if (extra) return extra;

    // /api/v1/... or /apis/<group>/<version>/...
    const m = /^\/(?:api\/(v1)|apis\/([^/]+)\/([^/]+))\/(.*)$/.exec(url.pathname);
    if (!m) throw new StatusError(404, "NotFound", "the server could not find the requested resource");
    const group = m[2] ?? "";
    const version = m[1] ?? m[3];
    let parts = m[4].split("/").filter(Boolean);
    let namespace: string | undefined;
    if (parts[0] === "namespaces" && parts.length >= 3) {
      namespace = parts[1];
      parts = parts.slice(2);
    }
    const [plural, name, sub] = parts;
    const r = RESOURCES.find((x) => x.group === group && x.version === version && x.plural === plural);
    if (!r || parts.length > 3 || (sub && !(plural === "pods" && sub === "eviction")))
      throw new StatusError(404, "NotFound", "the server could not find the requested resource");
    if (namespace && !r.namespaced) throw new StatusError(404, "NotFound", "the server could not find the requested resource");

    const verb = sub
      ? method === "POST"
        ? "create"
        : "unsupported"
      : method === "GET"
        ? name
          ? "get"
          : url.searchParams.get("watch") === "true"
            ? "watch"
            : "list"
        : method === "PATCH"
          ? "patch"
          : method === "DELETE"
            ? name
              ? "delete"
              : "deletecollection"
            : method === "POST"
              ? "create"
              : method === "PUT"
                ? "update"
                : "unsupported";
    const resource = sub ? `${plural}/${sub}` : plural;
    const rules = opts.rbac();
    const attributes = { verb, group: r.group, resource, name };
    if (opts.forbidden().some((f) => f.verb === verb && f.resource === resource) || (rules && !rbacAllows(rules, attributes)))
      throw new StatusError(403, "Forbidden", forbiddenMessage(user, { ...attributes, namespace, plural }), {
        ...(name ? { name } : {}),
        ...(r.group ? { group: r.group } : {}),
        kind: plural,
      });
    const allowed = sub ? ["create"] : r.verbs;
    if (!allowed.includes(verb))
      throw new StatusError(405, "MethodNotAllowed", `the server does not allow this method on the requested resource`, {
        ...(name ? { name } : {}),
        kind: plural,
      });

    const store = r.store(cluster);
    const view = (o: KObj): KObj => (r.plural === "poddisruptionbudgets" ? cluster.pdbView(o) : o);

    if (verb === "list") {
      const ff = fieldFilter(r, url.searchParams.get("fieldSelector"));
      const lf = labelFilter(url.searchParams.get("labelSelector"));
      let items = [...store.values()].filter((o) => (!namespace || o.metadata.namespace === namespace) && ff(o) && lf(o));
      items.sort((a, b) => key(a.metadata.namespace, a.metadata.name).localeCompare(key(b.metadata.namespace, b.metadata.name)));
      const limit = Number(url.searchParams.get("limit") ?? 0);
      const start = url.searchParams.get("continue") ? Number(Buffer.from(url.searchParams.get("continue")!, "base64url").toString()) : 0;
      let cont: string | undefined;
      if (limit > 0 && items.length > start + limit) cont = Buffer.from(String(start + limit)).toString("base64url");
      items = limit > 0 ? items.slice(start, start + limit) : items.slice(start);
      return {
        status: 200,
        body: {
          kind: `${r.kind}List`,
          apiVersion: r.group ? `${r.group}/${r.version}` : r.version,
          metadata: { resourceVersion: cluster.nextResourceVersion(), ...(cont ? { continue: cont } : {}) },
          items: items.map((o) => {
            const { kind: _k, apiVersion: _a, ...rest } = view(o);
            return rest;
          }),
        },
      };
    }

    const k = key(r.namespaced ? namespace : undefined, name!);
    const obj = store.get(k);

    if (verb === "create" && sub === "eviction") return evict(namespace!, name!, body);
    if (!obj) throw notFound(r, name!);

    if (verb === "get") return { status: 200, body: view(obj) };

    if (verb === "patch") {
      const ct = (req.headers["content-type"] ?? "").split(";")[0].trim();
      if (!PATCH_TYPES.includes(ct))
        throw new StatusError(
          415,
          "UnsupportedMediaType",
          `the body of the request was in an unknown format - accepted media types include: ${PATCH_TYPES.join(", ")}`,
        );
      let doc: unknown;
      try {
        doc = JSON.parse(body);
      } catch {
        throw new StatusError(400, "BadRequest", "the server rejected our request due to an error in our request");
      }
      let next: KObj;
      try {
        next = (ct === "application/json-patch+json"
          ? jsonPatch(obj, doc)
          : ct === "application/merge-patch+json"
            ? jsonMergePatch(obj, doc)
            : strategicMergePatch(obj, doc)) as unknown as KObj;
      } catch (e) {
        if (e instanceof PatchError) throw new StatusError(e.status, e.status === 422 ? "Invalid" : "BadRequest", e.message);
        throw e;
      }
      if (next?.metadata?.name !== obj.metadata.name || next.metadata.uid !== obj.metadata.uid)
        throw new StatusError(422, "Invalid", `${r.kind} "${name}" is invalid: metadata.name: Invalid value: the name and uid of an object cannot change`, {
          name,
          kind: r.kind,
        });
      next.metadata.resourceVersion = cluster.nextResourceVersion();
      store.set(k, next);
      if (r.plural === "nodes") cluster.nodeChanged(next);
      if (r.plural === "pods") cluster.podChanged(next);
      return { status: 200, body: next };
    }

    if (verb === "delete") {
      if (r.plural === "nodes") {
        cluster.deleteNode(name!);
        return {
          status: 200,
          body: { kind: "Status", apiVersion: "v1", metadata: {}, status: "Success", details: { name, kind: "nodes", uid: obj.metadata.uid } },
        };
      }
      let graceSeconds: number | undefined;
      if (url.searchParams.get("gracePeriodSeconds")) graceSeconds = Number(url.searchParams.get("gracePeriodSeconds"));
      if (body) {
        try {
          const opts = JSON.parse(body) as { gracePeriodSeconds?: number };
          if (typeof opts.gracePeriodSeconds === "number") graceSeconds = opts.gracePeriodSeconds;
        } catch {
          throw new StatusError(400, "BadRequest", "the server rejected our request due to an error in our request");
        }
      }
      const pod = cluster.deletePod(namespace!, name!, graceSeconds === 0 ? 0 : undefined);
      return { status: 200, body: pod ?? obj };
    }
    throw new StatusError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource");
  };

  /** The pods/eviction subresource, with the PodDisruptionBudget checks of kube-apiserver. */
  const evict = (namespace: string, name: string, body: string): { status: number; body: unknown } => {
    let eviction: { kind?: string; metadata?: { name?: string; namespace?: string } };
    try {
      eviction = JSON.parse(body || "{}");
    } catch {
      throw new StatusError(400, "BadRequest", "the server rejected our request due to an error in our request");
    }
    if (eviction.metadata?.name && eviction.metadata.name !== name)
      throw new StatusError(400, "BadRequest", "name in URL does not match name in Eviction object", { name, kind: "Eviction" });
    const pod = cluster.pods.get(key(namespace, name));
    if (!pod) throw new StatusError(404, "NotFound", `pods "${name}" not found`, { name, kind: "pods" });
    const success = { status: 201, body: { kind: "Status", apiVersion: "v1", metadata: {}, status: "Success", code: 201 } };
    // Terminal, pending or already-terminating pods are deleted without consulting budgets.
    const phase = pod.status?.phase;
    if (pod.metadata.deletionTimestamp || phase === "Succeeded" || phase === "Failed" || phase === "Pending") {
      cluster.deletePod(namespace, name, undefined, "evicted");
      return success;
    }
    const pdbs = [...cluster.pdbs.values()].filter((p) => p.metadata.namespace === namespace && matchesSelector(p.spec.selector, pod.metadata.labels));
    if (pdbs.length > 1)
      throw new StatusError(500, "InternalError", "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.");
    if (pdbs.length === 1) {
      const st = cluster.pdbStatus(pdbs[0]);
      // unhealthyPodEvictionPolicy IfHealthyBudget: a not-ready pod may go while the budget is met.
      const ok = isPodReady(pod) ? st.disruptionsAllowed > 0 : st.currentHealthy >= st.desiredHealthy;
      if (!ok)
        throw new StatusError(429, "TooManyRequests", "Cannot evict pod as it would violate the pod's disruption budget.", {
          causes: [
            {
              reason: "DisruptionBudget",
              message: `The disruption budget ${pdbs[0].metadata.name} needs ${st.desiredHealthy} healthy pods and has ${st.currentHealthy} currently`,
            },
          ],
        });
    }
    cluster.deletePod(namespace, name, undefined, "evicted");
    return success;
  };

  return (req) =>
    handle(req).catch((e: unknown): Answer => {
      if (e instanceof StatusError) return { status: e.code, body: e.body() };
      return { status: 500, body: new StatusError(500, "InternalError", `simulator bug: ${(e as Error).stack}`).body() };
    });
}
