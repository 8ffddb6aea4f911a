import "server-only";
import { existsSync, statSync } from "node:fs";
import { homedir } from "node:os";
import path from "node:path";
import { KubeConfig, type Cluster, type Context, type User } from "@kubernetes/client-node";
import type { ClusterInfo } from "../contracts/nodes";
import { KubeError } from "./errors";
import { ExecCredentials, type ExecConfig } from "./exec-credential";

const SA_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token";

export interface LoadedKubeConfig {
  kc: KubeConfig;
  cluster: ClusterInfo;
  /** The users' exec credential plugins, run by Lifeboat (see ExecCredentials); null when no user has one. */
  credentials: ExecCredentials | null;
}

export interface LoadKubeConfigOptions {
  home?: string;
  inCluster?: boolean;
  /** Time limit of one credential plugin run (default 10 s). */
  execTimeoutMs?: number;
}

const kubeconfigFiles = (kubeconfigEnv: string | undefined, home?: string): { files: string[]; fromEnv: boolean } =>
  kubeconfigEnv
    ? { files: kubeconfigEnv.split(path.delimiter).filter(Boolean), fromEnv: true }
    : { files: [path.join(home ?? homedir(), ".kube", "config")], fromEnv: false };

/**
 * What loadKubeConfig would read, as a string that changes when it does: KUBECONFIG, and each file's
 * path with its inode, size and times (or its absence). A client built for one fingerprint can be
 * kept while it stays the same (its credential plugin's token with it).
 */
export function kubeconfigFingerprint(kubeconfigEnv: string | undefined, opts: { home?: string } = {}): string {
  const { files } = kubeconfigFiles(kubeconfigEnv, opts.home);
  const stats = files.map((f) => {
    try {
      const s = statSync(f);
      return `${f}\0${s.ino}\0${s.size}\0${s.mtimeMs}\0${s.ctimeMs}`;
    } catch {
      return `${f}\0-`;
    }
  });
  return JSON.stringify([kubeconfigEnv ?? null, process.env.KUBERNETES_SERVICE_HOST ?? null, stats]);
}

/**
 * Reads kubeconfig files and merges them with kubectl's rules (client-go's loader): for clusters,
 * users and contexts the first file to define a name wins (later definitions of it are ignored, not
 * merged in), and current-context is the first one a file sets. (client-node's mergeConfig instead
 * let the last file's current-context win and threw on a name two files define, which every pair of
 * k3s kubeconfigs does: all is called "default".) Users' exec credential plugins are taken out of the
 * library's hands into `credentials`.
 */
function readKubeconfigFiles(files: string[], credentials: ExecCredentials, fix: string): KubeConfig {
  const clusters = new Map<string, Cluster>();
  const users = new Map<string, User>();
  const contexts = new Map<string, Context>();
  let currentContext: string | undefined;
  for (const f of files) {
    const one = new KubeConfig();
    try {
      one.loadFromFile(f);
    } catch (e) {
      throw new KubeError("not_configured", `Cannot read the kubeconfig ${f}: ${(e as Error).message.split("\n")[0]}. ${fix}`, 0, null);
    }
    for (const c of one.getClusters()) if (!clusters.has(c.name)) clusters.set(c.name, c);
    for (const c of one.getContexts()) if (!contexts.has(c.name)) contexts.set(c.name, c);
    for (const u of one.getUsers()) {
      if (users.has(u.name)) continue;
      const exec = u.exec as ExecConfig | undefined;
      if (exec && typeof exec.command === "string" && exec.command) {
        const { exec: _taken, ...rest } = u;
        void _taken;
        credentials.register(u.name, exec, path.dirname(path.resolve(f)));
        users.set(u.name, rest);
      } else users.set(u.name, u);
    }
    currentContext ||= one.getCurrentContext() || undefined;
  }
  const kc = new KubeConfig();
  kc.loadFromOptions({ clusters: [...clusters.values()], users: [...users.values()], contexts: [...contexts.values()], currentContext });
  return kc;
}

/**
 * Finds the dashboard's Kubernetes credentials: `KUBECONFIG` (a path, or several joined with ":"
 * and merged like kubectl does), else `~/.kube/config`, else the pod's service account when the
 * dashboard runs inside the cluster. Throws KubeError `not_configured` saying what to set when there
 * is none, or when the file cannot be read or has no current cluster.
 */
export function loadKubeConfig(kubeconfigEnv: string | undefined, opts: LoadKubeConfigOptions = {}): LoadedKubeConfig {
  let kc = new KubeConfig();
  let used: string | null = null;
  const credentials = new ExecCredentials(opts.execTimeoutMs ?? 10_000);
  const { files, fromEnv } = kubeconfigFiles(kubeconfigEnv, opts.home);
  if (fromEnv) {
    const present = files.filter((f) => existsSync(f));
    if (!present.length)
      throw new KubeError(
        "not_configured",
        `KUBECONFIG points at ${files.join(", ")}, which does not exist. Copy the cluster's kubeconfig there (on k3s: /etc/rancher/k3s/k3s.yaml, with its server address changed from 127.0.0.1 to the server's), or fix KUBECONFIG.`,
        0,
        null,
      );
    kc = readKubeconfigFiles(present, credentials, "Fix the file or KUBECONFIG.");
    used = present.join(path.delimiter);
  } else {
    const def = files[0];
    const inCluster = opts.inCluster ?? (Boolean(process.env.KUBERNETES_SERVICE_HOST) && existsSync(SA_TOKEN));
    if (existsSync(def)) {
      kc = readKubeconfigFiles([def], credentials, "Fix the file or set KUBECONFIG to another one.");
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
  if (credentials.size) kc.addAuthenticator(credentials);
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
    credentials: credentials.size ? credentials : null,
    cluster: {
      name: used ? cluster.name : "in-cluster",
      server: cluster.server,
      context: used ? kc.getCurrentContext() || null : null,
      source: used ? "kubeconfig" : "in-cluster",
      kubeconfigPath: used,
    },
  };
}
