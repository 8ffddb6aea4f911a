import https from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { chmodSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { SimulatedCluster, type SimulatedClusterOptions } from "./cluster";
import { generateCertificates } from "./tls";
import { makeApiHandler, type ExtraRoute, type ForbiddenRule } from "./api-handler";
import type { PolicyRule } from "./rbac";

/**
 * The simulated Kubernetes API server: HTTPS with its own CA (like a k3s server's), bearer-token
 * auth, a generated kubeconfig, and what api-handler.ts answers. The demo cluster of `npm start`
 * runs one (lib/kube/simulator/demo-cluster.ts); so do the tests (lib/kube/testing/).
 */

export type { ForbiddenRule } from "./api-handler";
export type { PolicyRule } from "./rbac";

export interface KubeApiServerOptions extends SimulatedClusterOptions {
  /** Where the certificates and the kubeconfig are written (created 0700). */
  dir: string;
  /** Removes `dir` on stop (a test's temporary directory). */
  removeDirOnStop?: boolean;
  /** Listen address and port (default 127.0.0.1, a free port). */
  host?: string;
  port?: number;
  /** The bearer token in the kubeconfig (random by default). */
  token?: string;
  /** The user name RBAC messages mention. */
  user?: string;
  /** Verbs the kubeconfig's user may not use; answered 403 like RBAC does. Changeable later. */
  forbidden?: ForbiddenRule[];
  /** The only rules the user has (a ClusterRole's), when set; anything else is 403. Changeable later. */
  rbac?: PolicyRule[] | null;
  /** Server-reported version (k3s style). */
  gitVersion?: string;
  /** The cluster to serve (default: a new, empty one with these options). */
  cluster?: SimulatedCluster;
  /** Requests kept in `requests` (default: all, for tests; the long-running demo keeps none). */
  keepRequests?: number;
  extraRoutes?: ExtraRoute;
  /** The kubeconfig's cluster, context and user name (default lifeboat-test). */
  contextName?: string;
}

export interface RequestRecord {
  method: string;
  path: string;
  query: string;
  contentType: string | undefined;
  status: number;
}

export interface KubeApiServer {
  url: string;
  /** Directory holding the kubeconfig and certificates. */
  dir: string;
  kubeconfigPath: string;
  kubeconfig: string;
  caPem: string;
  token: string;
  cluster: SimulatedCluster;
  /** Requests answered, in order, for assertions (method, path, content type, status). */
  requests: RequestRecord[];
  /** Replace the RBAC denials. */
  setForbidden(rules: ForbiddenRule[]): void;
  /** Replace the RBAC allow list (null: everything is allowed). */
  setRbac(rules: PolicyRule[] | null): void;
  /** Whether it listens now (false between pause() and resume()). */
  listening(): boolean;
  /** Stops listening (clients get "connection refused") until resume(); state and files stay. */
  pause(): Promise<void>;
  /** Listens again on the same port. */
  resume(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts the server and writes its certificates and kubeconfig (0600) into `dir`. Rejects when the port is taken or openssl is missing. */
export async function startKubeApiServer(opts: KubeApiServerOptions): Promise<KubeApiServer> {
  const dir = opts.dir;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const certs = generateCertificates(dir);
  const token = opts.token ?? randomBytes(24).toString("hex");
  const user = opts.user ?? "system:serviceaccount:lifeboat:dashboard";
  const cluster = opts.cluster ?? new SimulatedCluster(opts);
  let forbidden = opts.forbidden ?? [];
  let rbac = opts.rbac ?? null;
  const keep = opts.keepRequests ?? Infinity;
  const requests: RequestRecord[] = [];
  const handle = makeApiHandler({
    cluster,
    token,
    user,
    gitVersion: opts.gitVersion ?? "v1.31.4+k3s1",
    forbidden: () => forbidden,
    rbac: () => rbac,
    extraRoutes: opts.extraRoutes,
  });

  const server = https.createServer({ key: certs.keyPem, cert: certs.certPem }, (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const url = new URL(req.url ?? "/", "https://localhost");
      void handle({ method: req.method ?? "GET", url, headers: req.headers, body: Buffer.concat(chunks).toString("utf8") }).then(({ status, body }) => {
        if (keep > 0) {
          requests.push({ method: req.method ?? "GET", path: url.pathname, query: url.search, contentType: req.headers["content-type"], status });
          if (requests.length > keep) requests.splice(0, requests.length - keep);
        }
        const text = JSON.stringify(body);
        res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), "cache-control": "no-cache, private" });
        res.end(text);
      });
    });
  });
  const host = opts.host ?? "127.0.0.1";
  let isListening = false;
  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => {
        server.off("error", reject);
        isListening = true;
        resolve();
      });
    });
  await listen(opts.port ?? 0);
  const port = (server.address() as AddressInfo).port;
  const url = `https://${host.includes(":") ? `[${host}]` : host}:${port}`;
  const name = opts.contextName ?? "lifeboat-test";
  const kubeconfig = [
    "apiVersion: v1",
    "kind: Config",
    "clusters:",
    `- name: ${name}`,
    "  cluster:",
    `    server: ${url}`,
    `    certificate-authority-data: ${Buffer.from(certs.caPem).toString("base64")}`,
    "contexts:",
    `- name: ${name}`,
    "  context:",
    `    cluster: ${name}`,
    "    user: lifeboat",
    `current-context: ${name}`,
    "users:",
    "- name: lifeboat",
    "  user:",
    `    token: ${token}`,
    "",
  ].join("\n");
  const kubeconfigPath = path.join(dir, "kubeconfig");
  writeFileSync(kubeconfigPath, kubeconfig, { mode: 0o600 });
  chmodSync(kubeconfigPath, 0o600);

  const close = () =>
    new Promise<void>((resolve) => {
      isListening = false;
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return {
    url,
    dir,
    kubeconfigPath,
    kubeconfig,
    caPem: certs.caPem,
    token,
    cluster,
    requests,
    setForbidden: (rules) => {
      forbidden = rules;
    },
    setRbac: (rules) => {
      rbac = rules;
    },
    listening: () => isListening,
    pause: () => (isListening ? close() : Promise.resolve()),
    resume: () => (isListening ? Promise.resolve() : listen(port)),
    stop: async () => {
      cluster.dispose();
      if (isListening) await close();
      if (opts.removeDirOnStop) rmSync(dir, { recursive: true, force: true });
    },
  };
}
