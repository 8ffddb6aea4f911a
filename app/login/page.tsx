import type { Metadata } from "next";
import { LoginForm } from "@/components/accounts/login-form";
import { localPath } from "@/lib/contracts/auth";
import { getEnv } from "@/lib/env";

export const metadata: Metadata = { title: "Sign in" };
export const dynamic = "force-dynamic";

/** The sign-in page: the one page open without an account (the page guard sends everyone else here). */
export default async function LoginPage({ searchParams }: { searchParams: Promise<{ next?: string }> }) {
  const { next } = await searchParams;
  // Only a path of this site: a full URL or `//host` would make this an open redirect.
  const target = localPath(next);
  return (
    <div className="mx-auto mt-16 max-w-sm">
      <div className="mb-6 flex items-center gap-3">
        <span aria-hidden className="inline-block h-8 w-8 rounded-full border-[6px] border-orange-400 border-r-slate-200 border-l-slate-200" />
        <h1 className="text-2xl font-semibold tracking-tight">Sign in to Lifeboat</h1>
      </div>
      <div className="rounded-lg border border-slate-200 bg-white p-6 shadow-sm">
        <LoginForm next={target} proxyMode={getEnv().auth.mode === "proxy"} />
      </div>
      <p className="mt-4 text-xs text-slate-500">
        First run: the user is <span className="font-mono">admin</span>; its password is in <span className="font-mono">initial-admin-password</span> in the
        data directory (or the file named by LIFEBOAT_ADMIN_PASSWORD_FILE). Locked out: <span className="font-mono">npm run users -- reset-password admin</span>{" "}
        on the dashboard&apos;s host.
      </p>
    </div>
  );
}
