import type { Metadata } from "next";
import { TokensAdmin } from "@/components/accounts/tokens-admin";

export const metadata: Metadata = { title: "API tokens" };

/** Admins only (PAGE_ACCESS: /settings). */
export default function TokensPage() {
  return <TokensAdmin />;
}
