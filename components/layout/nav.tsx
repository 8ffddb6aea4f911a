"use client";

import Link from "next/link";
import { usePathname } from "next/navigation";
import { AlertCount } from "./alert-count";
import { pageAccess, roleAllows } from "@/lib/contracts/auth";
import { useMe } from "./session";
import { UserMenu } from "./user-menu";

const LINKS = [
  { href: "/backups", label: "Backups" },
  { href: "/restore", label: "Restore master" },
  { href: "/nodes", label: "Nodes" },
  { href: "/nodes/migrate", label: "Migrate worker" },
  { href: "/alerts", label: "Alerts" },
  { href: "/audit", label: "Audit log" },
  { href: "/settings/notifications", label: "Settings" },
];

/** The top navigation: the sections the signed-in role may open, the current one marked, and the user menu. */
export function Nav() {
  const pathname = usePathname();
  const me = useMe();
  if (!me) return null;
  const links = LINKS.filter((l) => roleAllows(me.role, pageAccess(l.href)));
  const active = links.filter((l) => pathname === l.href || pathname.startsWith(l.href + "/")).sort((a, b) => b.href.length - a.href.length)[0];
  return (
    <header className="border-b border-slate-800 bg-slate-900 text-slate-100">
      <div className="mx-auto flex max-w-7xl flex-wrap items-center gap-x-6 gap-y-2 px-4 py-3">
        <Link href="/backups" className="flex items-center gap-2 font-semibold tracking-tight">
          <span aria-hidden className="inline-block h-5 w-5 rounded-full border-4 border-orange-400 border-r-white border-l-white" />
          Lifeboat
        </Link>
        <nav aria-label="Main" className="order-last flex w-full flex-wrap gap-1 text-sm md:order-none md:w-auto md:flex-1">
          {links.map((l) => (
            <Link
              key={l.href}
              href={l.href}
              aria-current={active?.href === l.href ? "page" : undefined}
              className={`inline-flex items-center whitespace-nowrap rounded px-3 py-1.5 ${active?.href === l.href ? "bg-slate-700 text-white" : "text-slate-300 hover:bg-slate-800 hover:text-white"}`}
            >
              {l.label}
              {l.href === "/alerts" && <AlertCount />}
            </Link>
          ))}
        </nav>
        <UserMenu me={me} />
      </div>
    </header>
  );
}
