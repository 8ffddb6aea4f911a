import type { Metadata } from "next";
import { DemoClusterBanner } from "@/components/nodes/demo-cluster-banner";
import { getEnv } from "@/lib/env";
import { WorkerMigrationWizard } from "@/components/nodes/migration/worker-migration-wizard";

export const metadata: Metadata = { title: "Migrate a worker" };

export default async function Page({ searchParams }: { searchParams: Promise<{ run?: string | string[] }> }) {
  const { run } = await searchParams;
  return (
    <>
      {getEnv().LIFEBOAT_DEMO_CLUSTER && <DemoClusterBanner />}
      <WorkerMigrationWizard runParam={typeof run === "string" && run ? run : null} />
    </>
  );
}
