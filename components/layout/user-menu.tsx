"use client";

import Link from "next/link";
import { useState } from "react";
import type { Me } from "@/lib/contracts/auth";
import { OkResponse } from "@/lib/contracts/auth";
import { apiFetch, jsonBody } from "@/lib/client/api-fetch";

/** Who is signed in (name and role) with their own links: password, users and tokens (admins), sign out. */
export function UserMenu({ me }: { me: Me }) {
  const [open, setOpen] = useState(false);
  const [busy, setBusy] = useState(false);
  const signOut = async () => {
    setBusy(true);
    try {
      await apiFetch("/api/auth/logout", OkResponse, jsonBody({}));
    } finally {
      // A full load: nothing of the signed-in pages stays in the router's cache.
      window.location.assign("/login");
    }
  };
  const item = "block w-full px-3 py-2 text-left text-sm text-slate-700 hover:bg-slate-100";
  return (
    <div className="relative ml-auto">
      <button
        type="button"
        aria-haspopup="menu"
        aria-expanded={open}
        onClick={() => setOpen((o) => !o)}
        className="flex items-center gap-2 rounded px-3 py-1.5 text-sm text-slate-200 hover:bg-slate-800"
      >
        <span data-testid="signed-in-as">{me.name}</span>
        <span className="rounded bg-slate-700 px-1.5 py-0.5 text-xs uppercase tracking-wide text-slate-200">{me.role}</span>
      </button>
      {open && (
        <div
          role="menu"
          className="absolute right-0 z-20 mt-1 w-56 overflow-hidden rounded-md border border-slate-200 bg-white py-1 shadow-lg"
          onClick={() => setOpen(false)}
        >
          {me.kind === "session" && (
            <Link role="menuitem" href="/account" className={item}>
              Change password
            </Link>
          )}
          {me.role === "admin" && (
            <>
              <Link role="menuitem" href="/settings/users" className={item}>
                Users
              </Link>
              <Link role="menuitem" href="/settings/tokens" className={item}>
                API tokens
              </Link>
            </>
          )}
          {me.kind === "session" ? (
            <button role="menuitem" type="button" className={item} onClick={() => void signOut()} disabled={busy}>
              Sign out
            </button>
          ) : (
            <p className="px-3 py-2 text-xs text-slate-500">
              {me.kind === "proxy" ? "Signed in through your single sign-on." : "Signed in with an API token."}
            </p>
          )}
        </div>
      )}
    </div>
  );
}
