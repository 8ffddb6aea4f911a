import "server-only";
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import path from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import type { ClusterInfo } from "../contracts/nodes";
import { KubeError } from "./errors";

const SA_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token";

export interface LoadedKubeConfig {
  kc: KubeConfig;
  cluster: ClusterInfo;
}

/**
 * Finds the dashboard's Kubernetes credentials: `KUBECONFIG` (a path, or several joined with ":"
 * and merged like kubectl does), else `~/.kube/config`, else the pod's service account when the
 * dashboard runs inside the cluster. Throws KubeError `not_configured` saying what to set when there
 * is none, or when the file cannot be read or has no current cluster.
 */
export function loadKubeConfig(kubeconfigEnv: string | undefined, opts: { home?: string; inCluster?: boolean } = {}): LoadedKubeConfig {
  const kc = new KubeConfig();
  let used: string | null = null;
  const files = kubeconfigEnv ? kubeconfigEnv.split(path.delimiter).filter(Boolean) : [];
  if (files.length) {
    const present = files.filter((f) => existsSync(f));
    if (!present.length)
      throw new KubeError(
        "not_configured",
        `KUBECONFIG points at ${files.join(", ")}, which does not exist. Copy the cluster's kubeconfig there (on k3s: /etc/rancher/k3s/k3s.yaml, with its server address changed from 127.0.0.1 to the server's), or fix KUBECONFIG.`,
        0,
        null,
      );
    try {
      kc.loadFromFile(present[0]);
      for (const f of present.slice(1)) {
        const more = new KubeConfig();
        more.loadFromFile(f);
        kc.mergeConfig(more);
      }
    } catch (e) {
      throw new KubeError(
        "not_configured",
        `Cannot read the kubeconfig ${present[0]}: ${(e as Error).message.split("\n")[0]}. Fix the file or KUBECONFIG.`,
        0,
        null,
      );
    }
    used = present.join(path.delimiter);
  } else {
    const def = path.join(opts.home ?? homedir(), ".kube", "config");
    const inCluster = opts.inCluster ?? (Boolean(process.env.KUBERNETES_SERVICE_HOST) && existsSync(SA_TOKEN));
    if (existsSync(def)) {
      try {
        kc.loadFromFile(def);
      } catch (e) {
        throw new KubeError(
          "not_configured",
          `Cannot read the kubeconfig ${def}: ${(e as Error).message.split("\n")[0]}. Fix the file or set KUBECONFIG to another one.`,
          0,
          null,
        );
      }
      used = def;
    } else if (inCluster) {
      kc.loadFromCluster();
    } else {
      throw new KubeError(
        "not_configured",
        `No Kubernetes cluster is configured. Set KUBECONFIG to a kubeconfig file for the cluster (on k3s, copy /etc/rancher/k3s/k3s.yaml from the server and change its server address from 127.0.0.1 to the server's), or put it in ${def}.`,
        0,
        null,
      );
    }
  }
  const cluster = kc.getCurrentCluster();
  if (!cluster)
    throw new KubeError(
      "not_configured",
      `The kubeconfig ${used ?? "(in-cluster)"} has no current context with a cluster. Set current-context in it.`,
      0,
      null,
    );
  return {
    kc,
    cluster: {
      name: used ? cluster.name : "in-cluster",
      server: cluster.server,
      context: used ? kc.getCurrentContext() || null : null,
      source: used ? "kubeconfig" : "in-cluster",
      kubeconfigPath: used,
    },
  };
}
