import type { Metadata } from "next";
import { DemoClusterBanner } from "@/components/nodes/demo-cluster-banner";
import { getEnv } from "@/lib/env";
import { NodesPage } from "@/components/nodes/nodes-page";

export const metadata: Metadata = { title: "Nodes" };

export const dynamic = "force-dynamic";

export default function Page() {
  return (
    <>
      {getEnv().LIFEBOAT_DEMO_CLUSTER && <DemoClusterBanner />}
      <NodesPage />
    </>
  );
}
