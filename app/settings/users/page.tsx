import type { Metadata } from "next";
import { UsersAdmin } from "@/components/accounts/users-admin";

export const metadata: Metadata = { title: "Users" };

/** Admins only (PAGE_ACCESS: /settings). */
export default function UsersPage() {
  return <UsersAdmin />;
}
