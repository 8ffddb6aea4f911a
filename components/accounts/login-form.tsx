"use client";

import { useState, type FormEvent } from "react";
import { Banner } from "@/components/ui/banner";
import { Button } from "@/components/ui/button";
import type { ApiRequestError } from "@/lib/client/api-fetch";
import { accountActions } from "./queries";

/** The sign-in form. On success the browser loads `next` (a path of this site) afresh. */
export function LoginForm({ next, proxyMode }: { next: string; proxyMode: boolean }) {
  const [name, setName] = useState("");
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await accountActions.login({ name, password });
      window.location.assign(next);
    } catch (err) {
      setError((err as ApiRequestError).message);
      setPassword("");
      setBusy(false);
    }
  };

  const field = "w-full rounded-md border border-slate-300 px-3 py-2 text-sm focus:border-blue-500 focus:outline-none";
  return (
    <form onSubmit={(e) => void submit(e)} className="space-y-4" aria-label="Sign in">
      {proxyMode && (
        <Banner tone="info">People sign in through the single sign-on in front of this dashboard; this form is for its own accounts (break-glass).</Banner>
      )}
      {error && <Banner tone="error">{error}</Banner>}
      <label className="block space-y-1">
        <span className="text-sm font-medium text-slate-700">User name</span>
        <input className={field} name="username" autoComplete="username" autoFocus required value={name} onChange={(e) => setName(e.target.value)} />
      </label>
      <label className="block space-y-1">
        <span className="text-sm font-medium text-slate-700">Password</span>
        <input
          className={field}
          name="password"
          type="password"
          autoComplete="current-password"
          required
          value={password}
          onChange={(e) => setPassword(e.target.value)}
        />
      </label>
      <Button type="submit" disabled={busy} className="w-full py-2">
        {busy ? "Signing in…" : "Sign in"}
      </Button>
    </form>
  );
}
