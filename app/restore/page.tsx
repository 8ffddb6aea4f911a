import type { Metadata } from "next";
import { RestoreWizard } from "@/components/restore/restore-wizard";

export const metadata: Metadata = { title: "Restore the server" };

export default async function Page({ searchParams }: { searchParams: Promise<{ run?: string | string[] }> }) {
  const { run } = await searchParams;
  return <RestoreWizard runParam={typeof run === "string" && run ? run : null} />;
}
