import type { SimulatedCluster } from "./cluster";
import { kubeTime } from "./cluster";

const daysAgo = (d: number) => kubeTime(new Date(Date.now() - d * 86_400_000));

/**
 * A three-Raspberry-Pi k3s cluster like the one in the incident write-up: `pi-1` the server
 * (control plane), `pi-2` and `pi-3` workers. `pi-2` carries what a worker migration has to deal
 * with: a DaemonSet pod (skipped by drain), two replicas of `web` under a budget that lets only one
 * go at a time (the second eviction is refused until the first one's replacement is Ready), a pod
 * with an emptyDir cache, a pod whose volume is k3s local-path storage on pi-2, and a pod no
 * controller manages.
 */
export function seedHomelab(c: SimulatedCluster): void {
  c.addNode({ name: "pi-1", roles: ["control-plane"], internalIP: "192.168.1.11", createdAt: daysAgo(412), cpu: "4", memory: "3882096Ki" });
  c.addNode({ name: "pi-2", internalIP: "192.168.1.12", createdAt: daysAgo(410), cpu: "4", memory: "3882096Ki" });
  c.addNode({ name: "pi-3", internalIP: "192.168.1.13", createdAt: daysAgo(15), cpu: "4", memory: "7998004Ki", osImage: "Debian GNU/Linux 12 (bookworm)" });

  const sys = "kube-system";
  c.addPod({
    name: "coredns-ccb96694c-x7k2p",
    namespace: sys,
    node: "pi-1",
    owner: { kind: "ReplicaSet", name: "coredns-ccb96694c" },
    labels: { "k8s-app": "kube-dns" },
    requests: { cpu: "100m", memory: "70Mi" },
    createdAt: daysAgo(412),
    image: "rancher/mirrored-coredns-coredns:1.11.3",
  });
  c.addPod({
    name: "local-path-provisioner-5cf85fd84d-q9wzn",
    namespace: sys,
    node: "pi-1",
    owner: { kind: "ReplicaSet", name: "local-path-provisioner-5cf85fd84d" },
    labels: { app: "local-path-provisioner" },
    createdAt: daysAgo(412),
    image: "rancher/local-path-provisioner:v0.0.30",
  });
  c.addPod({
    name: "metrics-server-5985cbc9d7-hvq5t",
    namespace: sys,
    node: "pi-1",
    owner: { kind: "ReplicaSet", name: "metrics-server-5985cbc9d7" },
    labels: { "k8s-app": "metrics-server" },
    requests: { cpu: "100m", memory: "70Mi" },
    createdAt: daysAgo(412),
    image: "rancher/mirrored-metrics-server:v0.7.2",
  });
  c.addPod({
    name: "traefik-57b79cf995-8kzvn",
    namespace: sys,
    node: "pi-1",
    owner: { kind: "ReplicaSet", name: "traefik-57b79cf995" },
    labels: { "app.kubernetes.io/name": "traefik" },
    createdAt: daysAgo(412),
    image: "rancher/mirrored-library-traefik:2.11.10",
  });
  const svclb = (node: string, id: string, age: number) =>
    c.addPod({
      name: `svclb-traefik-4c1b9a2e-${id}`,
      namespace: sys,
      node,
      owner: { kind: "DaemonSet", name: "svclb-traefik-4c1b9a2e" },
      labels: { app: "svclb-traefik-4c1b9a2e" },
      createdAt: daysAgo(age),
      image: "rancher/klipper-lb:v0.4.9",
      tolerations: [{ operator: "Exists" }],
    });
  svclb("pi-1", "hx2mw", 412);
  svclb("pi-2", "6sd4t", 410);
  svclb("pi-3", "jq8zp", 15);

  const web = (name: string, node: string) =>
    c.addPod({
      name,
      node,
      owner: { kind: "ReplicaSet", name: "web-7d4b9c6f5d" },
      labels: { app: "web", "pod-template-hash": "7d4b9c6f5d" },
      requests: { cpu: "250m", memory: "256Mi" },
      createdAt: daysAgo(30),
      image: "ghcr.io/example/web:2.4.1",
    });
  web("web-7d4b9c6f5d-2xkqp", "pi-2");
  web("web-7d4b9c6f5d-r8m4s", "pi-2");
  c.addPdb({ name: "web", selector: { matchLabels: { app: "web" } }, minAvailable: 1 });

  c.addPod({
    name: "redis-6f8d5b7c9-tm2vw",
    node: "pi-2",
    owner: { kind: "ReplicaSet", name: "redis-6f8d5b7c9" },
    labels: { app: "redis" },
    requests: { cpu: "100m", memory: "128Mi" },
    volumes: [{ name: "cache", emptyDir: {} }],
    createdAt: daysAgo(30),
    image: "docker.io/library/redis:7.4",
  });

  c.addPv({ name: "pvc-3f1e2d9a-7c4b-4e8a-9b1f-2a6c5d4e3f21", node: "pi-2", kind: "local-path", claim: { namespace: "default", name: "grafana-data" } });
  c.addPvc({ name: "grafana-data", volumeName: "pvc-3f1e2d9a-7c4b-4e8a-9b1f-2a6c5d4e3f21" });
  c.addPod({
    name: "grafana-7c9f8b6d4-kw5rt",
    node: "pi-2",
    owner: { kind: "ReplicaSet", name: "grafana-7c9f8b6d4" },
    labels: { app: "grafana" },
    requests: { cpu: "100m", memory: "192Mi" },
    volumes: [{ name: "storage", persistentVolumeClaim: { claimName: "grafana-data" } }],
    createdAt: daysAgo(60),
    image: "docker.io/grafana/grafana:11.3.0",
  });

  c.addPv({ name: "pvc-8a7b6c5d-1e2f-4a3b-8c9d-0e1f2a3b4c5d", kind: "nfs", claim: { namespace: "default", name: "data-postgres-0" } });
  c.addPvc({ name: "data-postgres-0", volumeName: "pvc-8a7b6c5d-1e2f-4a3b-8c9d-0e1f2a3b4c5d", storageClassName: "nfs-client" });
  c.addPod({
    name: "postgres-0",
    node: "pi-3",
    owner: { kind: "StatefulSet", name: "postgres" },
    labels: { app: "postgres" },
    requests: { cpu: "500m", memory: "512Mi" },
    volumes: [{ name: "data", persistentVolumeClaim: { claimName: "data-postgres-0" } }],
    createdAt: daysAgo(15),
    image: "docker.io/library/postgres:16",
  });

  c.addPod({ name: "debug-shell", node: "pi-2", labels: { run: "debug-shell" }, createdAt: daysAgo(2), image: "docker.io/library/busybox:1.37" });
}

/**
 * What the nodes do around a k3s server restart (a restore): every node goes Unknown now, and,
 * unless `readyAfterMs` is null (they never come back), each is Ready again `readyAfterMs` later,
 * one `staggerMs` after the other, as their kubelets reconnect.
 */
export function restartControlPlane(c: SimulatedCluster, opts: { readyAfterMs: number | null; staggerMs?: number }): void {
  const names = [...c.nodes.keys()];
  for (const n of names) c.setNodeReady(n, "unknown");
  c.note("control plane restarted");
  if (opts.readyAfterMs === null) return;
  names.forEach((n, i) => c.later(opts.readyAfterMs! + i * (opts.staggerMs ?? 0), () => c.setNodeReady(n, true)));
}
