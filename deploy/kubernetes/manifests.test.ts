import { describe, it, expect } from "vitest";
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import yaml from "js-yaml";
import * as clientNode from "@kubernetes/client-node";
import { Namespace } from "kubernetes-models/v1/Namespace";
import { PersistentVolumeClaim } from "kubernetes-models/v1/PersistentVolumeClaim";
import { Secret } from "kubernetes-models/v1/Secret";
import { Service } from "kubernetes-models/v1/Service";
import { ServiceAccount } from "kubernetes-models/v1/ServiceAccount";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { ClusterRole } from "kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole";
import { ClusterRoleBinding } from "kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding";

/**
 * Every object in deploy/kubernetes/*.yaml against the Kubernetes OpenAPI schema, offline:
 * kubernetes-models' validators (generated from the API's OpenAPI spec: types, required fields,
 * formats), plus the field names @kubernetes/client-node's models know, so a misspelt field — which
 * the API server would drop silently, or `kubectl apply --validate=strict` refuse — fails here too.
 * Then what the manifests promise: one replica on a PVC, probes on /api/livez with an allowed Host,
 * non-root with a read-only root filesystem, no management-cluster token, Secrets for the settings.
 */

const DIR = import.meta.dirname;
type Obj = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string }; [k: string]: unknown };

type Model = new (o: object) => { validate(): void };
const MODELS = {
  "v1/Namespace": Namespace,
  "v1/PersistentVolumeClaim": PersistentVolumeClaim,
  "v1/Secret": Secret,
  "v1/Service": Service,
  "v1/ServiceAccount": ServiceAccount,
  "apps/v1/Deployment": Deployment,
  "rbac.authorization.k8s.io/v1/ClusterRole": ClusterRole,
  "rbac.authorization.k8s.io/v1/ClusterRoleBinding": ClusterRoleBinding,
} as unknown as Record<string, Model>;
/** The client library's class for a kind (V1Deployment), whose attribute map lists the API's field names. */
const CLIENT_CLASS: Record<string, string> = {
  "v1/Namespace": "V1Namespace",
  "v1/PersistentVolumeClaim": "V1PersistentVolumeClaim",
  "v1/Secret": "V1Secret",
  "v1/Service": "V1Service",
  "v1/ServiceAccount": "V1ServiceAccount",
  "apps/v1/Deployment": "V1Deployment",
  "rbac.authorization.k8s.io/v1/ClusterRole": "V1ClusterRole",
  "rbac.authorization.k8s.io/v1/ClusterRoleBinding": "V1ClusterRoleBinding",
};

type AttributeMap = { baseName: string; type: string }[];
const classes = clientNode as unknown as Record<string, { getAttributeTypeMap?: () => AttributeMap }>;

/** Field paths in `value` that the model `type` does not have (recursing through objects, arrays and maps). */
function unknownFields(value: unknown, type: string, at = ""): string[] {
  if (value === null || value === undefined) return [];
  const array = /^Array<(.+)>$/.exec(type);
  if (array) return Array.isArray(value) ? value.flatMap((v, i) => unknownFields(v, array[1], `${at}[${i}]`)) : [];
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) return Object.entries(value as object).flatMap(([k, v]) => unknownFields(v, map[1], `${at}.${k}`));
  const attrs = classes[type]?.getAttributeTypeMap?.();
  if (!attrs || typeof value !== "object") return [];
  const known = new Map(attrs.map((a) => [a.baseName, a.type]));
  return Object.entries(value as object).flatMap(([k, v]) => (known.has(k) ? unknownFields(v, known.get(k)!, `${at}.${k}`) : [`${at}.${k}`]));
}

function load(): { file: string; obj: Obj }[] {
  return readdirSync(DIR)
    .filter((f) => f.endsWith(".yaml"))
    .sort()
    .flatMap((file) =>
      yaml
        .loadAll(readFileSync(path.join(DIR, file), "utf8"))
        .filter(Boolean)
        .map((obj) => ({ file, obj: obj as Obj })),
    );
}
const objects = load();
const find = (kind: string, name: string) => objects.find((o) => o.obj.kind === kind && o.obj.metadata.name === name)!.obj as any;

describe("deploy/kubernetes", () => {
  it("every object is one the schema knows, and valid against it", () => {
    expect(objects.length).toBeGreaterThanOrEqual(10);
    for (const { file, obj } of objects) {
      const key = `${obj.apiVersion}/${obj.kind}`;
      expect(MODELS[key], `${file}: ${key} is not a kind this test validates`).toBeDefined();
      expect(() => new MODELS[key](obj).validate(), `${file}: ${key} ${obj.metadata?.name}`).not.toThrow();
      expect({ file, kind: obj.kind, unknown: unknownFields(obj, CLIENT_CLASS[key]) }).toEqual({ file, kind: obj.kind, unknown: [] });
    }
  });

  it("the validation catches what a person gets wrong: a wrong type, a missing field, a misspelt field", () => {
    const d = structuredClone(find("Deployment", "lifeboat"));
    d.spec.replicas = "one";
    expect(() => new Deployment(d).validate()).toThrow(/replicas must be integer/);
    const noSelector = structuredClone(find("Deployment", "lifeboat"));
    delete noSelector.spec.selector;
    expect(() => new Deployment(noSelector).validate()).toThrow(/selector/);
    const typo = structuredClone(find("Deployment", "lifeboat"));
    typo.spec.template.spec.containers[0].readinesProbe = typo.spec.template.spec.containers[0].readinessProbe;
    expect(unknownFields(typo, "V1Deployment")).toEqual([".spec.template.spec.containers[0].readinesProbe"]);
  });

  it("the Deployment: one replica on the PVC, /api/livez probes with Host localhost, non-root, read-only root, no management-cluster token", () => {
    const d = find("Deployment", "lifeboat");
    expect(d.spec.replicas).toBe(1);
    expect(d.spec.strategy.type).toBe("Recreate");
    const pod = d.spec.template.spec;
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 10001 });
    const c = pod.containers[0];
    expect(c.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } });
    for (const probe of [c.readinessProbe, c.livenessProbe]) {
      expect(probe.httpGet.path).toBe("/api/livez");
      expect(probe.httpGet.httpHeaders).toEqual([{ name: "Host", value: "localhost" }]);
    }
    const env = Object.fromEntries(c.env.map((e: { name: string; value: string }) => [e.name, e.value]));
    expect(env).toMatchObject({
      LIFEBOAT_DATA_DIR: "/data",
      KUBECONFIG: "/etc/lifeboat/target/kubeconfig",
      LIFEBOAT_AGENT_TOKEN_FILE: "/etc/lifeboat/agent/token",
    });
    const data = pod.volumes.find((v: { name: string }) => v.name === "data");
    expect(data.persistentVolumeClaim.claimName).toBe(find("PersistentVolumeClaim", "lifeboat-data").metadata.name);
    expect(c.volumeMounts.find((m: { name: string }) => m.name === "data").mountPath).toBe("/data");
    expect(c.envFrom).toEqual([{ secretRef: { name: "lifeboat-settings" } }]);
    for (const s of ["lifeboat-settings", "lifeboat-agent-token", "lifeboat-target-kubeconfig"]) expect(find("Secret", s)).toBeDefined();
    expect(find("Service", "lifeboat").spec.selector).toEqual(d.spec.template.metadata.labels);
  });
});
