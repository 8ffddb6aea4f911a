import type { Metadata } from "next";
import { WorkerMigrationWizard } from "@/components/nodes/migration/worker-migration-wizard";

export const metadata: Metadata = { title: "Migrate a worker" };

export default async function Page({ searchParams }: { searchParams: Promise<{ run?: string | string[] }> }) {
  const { run } = await searchParams;
  return <WorkerMigrationWizard runParam={typeof run === "string" && run ? run : null} />;
}
