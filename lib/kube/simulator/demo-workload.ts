import { kubeTime, type SimulatedCluster } from "./cluster";

/**
 * The demo cluster's machines and workload, like the write-up's: three Raspberry Pi 4 (arm64, 4 CPU,
 * 8 GiB) running k3s v1.31 on Raspberry Pi OS (Debian 12) — `pi-1` the server, `pi-2` and `pi-3`
 * agents — with what a homelab runs: k3s's own system pods (CoreDNS, Traefik and its svclb
 * DaemonSet, local-path-provisioner, metrics-server, the finished Helm install jobs), a `web`
 * Deployment under a PodDisruptionBudget that lets one of its three pods go at a time (two on pi-2,
 * so draining pi-2 visibly waits for the first replacement to be Ready), a `whoami` Deployment, a
 * node-exporter DaemonSet, and a `postgres` StatefulSet whose volume is local-path storage on pi-3.
 * The pods of the `apps` namespace come from the demo's kine database (demo-cluster.ts).
 */

export const K3S_VERSION = "v1.31.4+k3s1";
/** 8 GiB, as the kubelet reports it (in Ki). */
const PI4_MEMORY = "8388608Ki";
const DAY = 86_400_000;
const daysAgo = (d: number, now: number) => kubeTime(new Date(now - d * DAY));

/** The three Raspberry Pis. */
export function seedDemoNodes(c: SimulatedCluster, now = Date.now()): void {
  const pi = { cpu: "4", memory: PI4_MEMORY, arch: "arm64", kubeletVersion: K3S_VERSION, osImage: "Debian GNU/Linux 12 (bookworm)" };
  // k3s labels a server with its roles; the version is what the nodes table shows as "Version".
  c.addNode({ ...pi, name: "pi-1", roles: ["control-plane"], internalIP: "192.168.1.11", createdAt: daysAgo(412, now) });
  c.addNode({ ...pi, name: "pi-2", internalIP: "192.168.1.12", createdAt: daysAgo(410, now) });
  c.addNode({ ...pi, name: "pi-3", internalIP: "192.168.1.13", createdAt: daysAgo(396, now) });
}

/** The workload described above (everything but the `apps` namespace). */
export function seedDemoWorkload(c: SimulatedCluster, now = Date.now()): void {
  const sys = "kube-system";
  const age = (d: number) => daysAgo(d, now);
  const system = (name: string, rs: string, labels: Record<string, string>, image: string, requests?: { cpu?: string; memory?: string }) =>
    c.addPod({ name, namespace: sys, node: "pi-1", owner: { kind: "ReplicaSet", name: rs }, labels, image, requests, createdAt: age(412) });
  system("coredns-ccb96694c-x7k2p", "coredns-ccb96694c", { "k8s-app": "kube-dns" }, "rancher/mirrored-coredns-coredns:1.11.3", {
    cpu: "100m",
    memory: "70Mi",
  });
  system(
    "local-path-provisioner-5cf85fd84d-q9wzn",
    "local-path-provisioner-5cf85fd84d",
    { app: "local-path-provisioner" },
    "rancher/local-path-provisioner:v0.0.30",
  );
  system("metrics-server-5985cbc9d7-hvq5t", "metrics-server-5985cbc9d7", { "k8s-app": "metrics-server" }, "rancher/mirrored-metrics-server:v0.7.2", {
    cpu: "100m",
    memory: "70Mi",
  });
  system("traefik-57b79cf995-8kzvn", "traefik-57b79cf995", { "app.kubernetes.io/name": "traefik" }, "rancher/mirrored-library-traefik:2.11.10");
  // k3s installs Traefik with Helm jobs whose pods stay Completed.
  for (const [name, job] of [
    ["helm-install-traefik-crd-6kq2z", "helm-install-traefik-crd"],
    ["helm-install-traefik-p8x5d", "helm-install-traefik"],
  ])
    c.addPod({
      name,
      namespace: sys,
      node: "pi-1",
      owner: { kind: "Job", name: job },
      phase: "Succeeded",
      image: "rancher/klipper-helm:v0.9.3",
      createdAt: age(412),
    });

  const daemon = (set: string, ns: string, labels: Record<string, string>, image: string, ids: Record<string, string>) => {
    for (const [node, id] of Object.entries(ids))
      c.addPod({
        name: `${set}-${id}`,
        namespace: ns,
        node,
        owner: { kind: "DaemonSet", name: set },
        labels,
        image,
        tolerations: [{ operator: "Exists" }],
        requests: ns === sys ? undefined : { cpu: "50m", memory: "64Mi" },
        createdAt: age(node === "pi-1" ? 412 : 396),
      });
  };
  daemon("svclb-traefik-4c1b9a2e", sys, { app: "svclb-traefik-4c1b9a2e" }, "rancher/klipper-lb:v0.4.9", { "pi-1": "hx2mw", "pi-2": "6sd4t", "pi-3": "jq8zp" });
  daemon("node-exporter", "monitoring", { "app.kubernetes.io/name": "node-exporter" }, "quay.io/prometheus/node-exporter:v1.8.2", {
    "pi-1": "5wq7k",
    "pi-2": "m2x9c",
    "pi-3": "t8b4n",
  });

  const web = (id: string, node: string) =>
    c.addPod({
      name: `web-7d4b9c6f5d-${id}`,
      node,
      owner: { kind: "ReplicaSet", name: "web-7d4b9c6f5d" },
      labels: { app: "web", "pod-template-hash": "7d4b9c6f5d" },
      requests: { cpu: "250m", memory: "256Mi" },
      createdAt: age(30),
      image: "docker.io/library/nginx:1.27",
    });
  web("2xkqp", "pi-2");
  web("r8m4s", "pi-2");
  web("h6v2d", "pi-3");
  c.addPdb({ name: "web", selector: { matchLabels: { app: "web" } }, minAvailable: 2 });

  for (const [id, node] of [
    ["9tfzq", "pi-2"],
    ["k4w8m", "pi-3"],
  ])
    c.addPod({
      name: `whoami-5b8d6c7f9-${id}`,
      node,
      owner: { kind: "ReplicaSet", name: "whoami-5b8d6c7f9" },
      labels: { app: "whoami", "pod-template-hash": "5b8d6c7f9" },
      requests: { cpu: "50m", memory: "32Mi" },
      createdAt: age(12),
      image: "docker.io/traefik/whoami:v1.10",
    });

  const pv = "pvc-5c2a7e91-3b4d-4f6a-9e8c-1d2f3a4b5c6d";
  c.addPv({ name: pv, node: "pi-3", kind: "local-path", claim: { namespace: "default", name: "data-postgres-0" } });
  c.addPvc({ name: "data-postgres-0", volumeName: pv });
  c.addPod({
    name: "postgres-0",
    node: "pi-3",
    owner: { kind: "StatefulSet", name: "postgres" },
    labels: { app: "postgres", "statefulset.kubernetes.io/pod-name": "postgres-0" },
    requests: { cpu: "250m", memory: "512Mi" },
    volumes: [{ name: "data", persistentVolumeClaim: { claimName: "data-postgres-0" } }],
    createdAt: age(396),
    image: "docker.io/library/postgres:16.6",
  });
}
