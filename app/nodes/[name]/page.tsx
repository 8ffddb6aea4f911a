import type { Metadata } from "next";
import { NodeDetailView } from "@/components/nodes/node-detail";

type Props = { params: Promise<{ name: string }> };

export async function generateMetadata({ params }: Props): Promise<Metadata> {
  const { name } = await params;
  return { title: `Node ${decodeURIComponent(name)}` };
}

export default async function Page({ params }: Props) {
  const { name } = await params;
  return <NodeDetailView name={decodeURIComponent(name)} />;
}
