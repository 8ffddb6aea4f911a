"use client";

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { Banner, ConfirmBanner } from "@/components/ui/banner";
import { Button } from "@/components/ui/button";
import { Card } from "@/components/ui/card";
import { PageHeader } from "@/components/ui/page-header";
import { formatTime } from "@/components/ui/format";
import type { Role, TokenView } from "@/lib/contracts/auth";
import { AccountsTable, field, RoleSelect } from "./parts";
import { accountActions, accountKeys, tokensQuery } from "./queries";

/** Admins' page: API tokens for scripts and Prometheus — made here (shown once), revoked here; those of LIFEBOAT_API_TOKENS_FILE listed. */
export function TokensAdmin() {
  const q = useQuery(tokensQuery());
  const client = useQueryClient();
  const [name, setName] = useState("");
  const [role, setRole] = useState<Role>("viewer");
  const [shown, setShown] = useState<{ name: string; token: string } | null>(null);
  const [revoking, setRevoking] = useState<TokenView | null>(null);
  const refresh = () => void client.invalidateQueries({ queryKey: accountKeys.tokens() });
  const create = useMutation({
    mutationFn: () => accountActions.createToken({ name, role }),
    onSuccess: (made) => {
      setShown({ name: made.view.name, token: made.token });
      setName("");
      refresh();
    },
  });
  const revoke = useMutation({ mutationFn: (id: string) => accountActions.revokeToken(id), onSuccess: refresh });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setShown(null);
    create.mutate();
  };
  return (
    <div className="space-y-4">
      <PageHeader
        title="API tokens"
        subtitle="For scripts and Prometheus: send Authorization: Bearer <token>. Each token has a role; its use is in the audit log."
      />
      {shown && (
        <Banner
          tone="success"
          title={`Token "${shown.name}" — copy it now: it is not shown again.`}
          actions={
            <Button variant="ghost" onClick={() => setShown(null)}>
              Done
            </Button>
          }
        >
          <code data-testid="new-token" className="mt-1 block break-all rounded bg-white px-2 py-1 font-mono text-xs text-slate-900">
            {shown.token}
          </code>
        </Banner>
      )}
      {(create.error ?? revoke.error ?? q.error) && <Banner tone="error">{(create.error ?? revoke.error ?? q.error)!.message}</Banner>}
      {revoking && (
        <ConfirmBanner
          title={`Revoke "${revoking.name}"? Scripts using it are refused from now on.`}
          keepLabel="Keep"
          confirmLabel="Revoke"
          onClose={() => setRevoking(null)}
          onConfirm={() => revoke.mutate(revoking.id)}
        />
      )}
      <Card title="Tokens">
        {q.data && q.data.tokens.length === 0 && <p className="text-sm text-slate-600">No tokens yet.</p>}
        {q.data && q.data.tokens.length > 0 && (
          <AccountsTable columns={["Name", "Role", "Made", "Last used"]}>
            {q.data.tokens.map((t) => (
              <tr key={t.id} data-token={t.name} className="border-t border-slate-100">
                <td className="py-2 pr-3 font-medium text-slate-800">{t.name}</td>
                <td className="py-2 pr-3">{t.role}</td>
                <td className="py-2 pr-3 text-slate-600">
                  {t.source === "file" ? "LIFEBOAT_API_TOKENS_FILE" : `${formatTime(t.createdAt!)} by ${t.createdBy}`}
                </td>
                <td className="py-2 pr-3 text-slate-600">{t.lastUsedAt ? formatTime(t.lastUsedAt) : "—"}</td>
                <td className="py-2 text-right">
                  {t.source === "ui" ? (
                    <Button variant="danger" onClick={() => setRevoking(t)}>
                      Revoke…
                    </Button>
                  ) : (
                    <span className="text-xs text-slate-500">edit the file to revoke</span>
                  )}
                </td>
              </tr>
            ))}
          </AccountsTable>
        )}
      </Card>
      <Card title="Make a token">
        <form onSubmit={submit} className="flex flex-wrap items-end gap-3">
          <label className="flex flex-col gap-1">
            <span className="text-xs font-medium text-slate-700">Name (what uses it)</span>
            <input className={field} required placeholder="prometheus" value={name} onChange={(e) => setName(e.target.value)} />
          </label>
          <label className="flex flex-col gap-1">
            <span className="text-xs font-medium text-slate-700">Role</span>
            <RoleSelect value={role} onChange={setRole} />
          </label>
          <Button type="submit" disabled={create.isPending}>
            {create.isPending ? "Making…" : "Make token"}
          </Button>
        </form>
      </Card>
    </div>
  );
}
