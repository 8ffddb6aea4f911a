import type { Metadata } from "next";
import { notFound } from "next/navigation";
import { AlertDetail } from "@/components/alerts/alert-detail";
import { alertService, notifier } from "@/lib/alerts";
import { AlertName } from "@/lib/contracts/alerts";

export const dynamic = "force-dynamic";

type Props = { params: Promise<{ key: string }> };

const nameOf = (key: string) => AlertName.safeParse(key.split(":")[0]);

export async function generateMetadata({ params }: Props): Promise<Metadata> {
  return { title: `Alert ${decodeURIComponent((await params).key)}` };
}

/** One alert (name and scope): what it means, what to do, its episodes. Any built-in name has a page, fired or not. */
export default async function AlertPage({ params }: Props) {
  const key = decodeURIComponent((await params).key);
  const name = nameOf(key);
  if (!name.success) notFound();
  const svc = alertService();
  return <AlertDetail name={name.data} alertKey={key} episodes={svc.views(svc.store.byKey(key))} channels={notifier().alertChannels()} />;
}
