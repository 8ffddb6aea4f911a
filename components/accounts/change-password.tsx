"use client";

import { useMutation } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { Banner } from "@/components/ui/banner";
import { Button } from "@/components/ui/button";
import { Card } from "@/components/ui/card";
import { MIN_PASSWORD_LENGTH } from "@/lib/contracts/auth";
import { accountActions } from "./queries";

/** Changes the signed-in user's own password; their other sessions end, this one stays. */
export function ChangePassword() {
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const [again, setAgain] = useState("");
  const change = useMutation({
    mutationFn: () => accountActions.changePassword({ current, next }),
    onSuccess: () => {
      setCurrent("");
      setNext("");
      setAgain("");
    },
  });
  const mismatch = again.length > 0 && again !== next;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!mismatch) change.mutate();
  };
  const field = "w-full rounded-md border border-slate-300 px-3 py-2 text-sm";
  return (
    <Card title="Change your password">
      <form onSubmit={submit} className="max-w-md space-y-3">
        {change.isSuccess && <Banner tone="success">Password changed. Your other sessions have ended.</Banner>}
        {change.isError && <Banner tone="error">{change.error.message}</Banner>}
        <label className="block space-y-1">
          <span className="text-sm font-medium text-slate-700">Current password</span>
          <input className={field} type="password" autoComplete="current-password" required value={current} onChange={(e) => setCurrent(e.target.value)} />
        </label>
        <label className="block space-y-1">
          <span className="text-sm font-medium text-slate-700">New password (at least {MIN_PASSWORD_LENGTH} characters)</span>
          <input
            className={field}
            type="password"
            autoComplete="new-password"
            required
            minLength={MIN_PASSWORD_LENGTH}
            value={next}
            onChange={(e) => setNext(e.target.value)}
          />
        </label>
        <label className="block space-y-1">
          <span className="text-sm font-medium text-slate-700">New password again</span>
          <input className={field} type="password" autoComplete="new-password" required value={again} onChange={(e) => setAgain(e.target.value)} />
        </label>
        {mismatch && <p className="text-sm text-red-700">The two new passwords differ.</p>}
        <Button type="submit" disabled={change.isPending || mismatch}>
          {change.isPending ? "Changing…" : "Change password"}
        </Button>
      </form>
    </Card>
  );
}
