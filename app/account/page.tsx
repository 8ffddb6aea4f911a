import type { Metadata } from "next";
import { ChangePassword } from "@/components/accounts/change-password";
import { PageHeader } from "@/components/ui/page-header";

export const metadata: Metadata = { title: "Your account" };

export default function AccountPage() {
  return (
    <div className="space-y-4">
      <PageHeader title="Your account" />
      <ChangePassword />
    </div>
  );
}
