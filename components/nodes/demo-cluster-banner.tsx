import { Banner } from "@/components/ui/banner";

/** Shown on the node pages when KUBECONFIG is npm start's demo cluster (LIFEBOAT_DEMO_CLUSTER): what it is, and how to see your own. */
export function DemoClusterBanner() {
  return (
    <div className="mb-4" data-testid="demo-cluster-banner">
      <Banner tone="info" title="Demo cluster">
        <p>
          These are three simulated Raspberry Pis (pi-1 runs the k3s server) with a homelab workload, answered by Lifeboat&apos;s own Kubernetes API simulator.
          Cordon, drain and delete really act on it; its pods follow the demo k3s database, and it stops answering while a restore has k3s stopped.
        </p>
        <p className="mt-1">
          To manage your own cluster, restart with <code className="font-mono">KUBECONFIG</code> set to its kubeconfig (docs/guide.md, “The demo cluster”).
        </p>
      </Banner>
    </div>
  );
}
