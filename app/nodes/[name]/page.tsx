import type { Metadata } from "next";
import { DemoClusterBanner } from "@/components/nodes/demo-cluster-banner";
import { getEnv } from "@/lib/env";
import { NodeDetailView } from "@/components/nodes/node-detail";

type Props = { params: Promise<{ name: string }> };

export async function generateMetadata({ params }: Props): Promise<Metadata> {
  const { name } = await params;
  return { title: `Node ${decodeURIComponent(name)}` };
}

export default async function Page({ params }: Props) {
  const { name } = await params;
  return (
    <>
      {getEnv().LIFEBOAT_DEMO_CLUSTER && <DemoClusterBanner />}
      <NodeDetailView name={decodeURIComponent(name)} />
    </>
  );
}
