"use client";

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { Banner, ConfirmBanner } from "@/components/ui/banner";
import { Button } from "@/components/ui/button";
import { Card } from "@/components/ui/card";
import { PageHeader } from "@/components/ui/page-header";
import { formatTime } from "@/components/ui/format";
import { useMe } from "@/components/layout/session";
import { MIN_PASSWORD_LENGTH, type Role, type UserView } from "@/lib/contracts/auth";
import { AccountsTable, field, RoleSelect } from "./parts";
import { accountActions, accountKeys, usersQuery } from "./queries";

const ROLE_TEXT: Record<Role, string> = {
  viewer: "sees history, flags, drills, nodes and the audit log",
  operator: "also backs up, verifies, refreshes, cordons and uncordons",
  admin: "everything: restores, drains, deletions, migrations, the join token, users and tokens",
};

/** Admins' page: every account with its role, a new password, deletion; and a form to add one. */
export function UsersAdmin() {
  const q = useQuery(usersQuery());
  const client = useQueryClient();
  const me = useMe();
  const [notice, setNotice] = useState<string | null>(null);
  const [deleting, setDeleting] = useState<string | null>(null);
  const [resetting, setResetting] = useState<string | null>(null);
  const [newPassword, setNewPassword] = useState("");
  const done = (text: string) => {
    setNotice(text);
    void client.invalidateQueries({ queryKey: accountKeys.users() });
  };
  const update = useMutation({
    mutationFn: (v: { name: string; role?: Role; password?: string }) => accountActions.updateUser(v.name, { role: v.role, password: v.password }),
    onSuccess: (u, v) => {
      setResetting(null);
      setNewPassword("");
      done(v.password ? `${u.name} has a new password; their sessions have ended.` : `${u.name} is now ${u.role}.`);
    },
  });
  const remove = useMutation({ mutationFn: (name: string) => accountActions.deleteUser(name), onSuccess: (_r, name) => done(`${name} was deleted.`) });
  const error = update.error ?? remove.error;

  return (
    <div className="space-y-4">
      <PageHeader title="Users" subtitle="Who may sign in, and what each role may do. Every change is in the audit log." />
      {notice && <Banner tone="success">{notice}</Banner>}
      {error && <Banner tone="error">{error.message}</Banner>}
      {q.isError && <Banner tone="error">{q.error.message}</Banner>}
      {deleting && (
        <ConfirmBanner
          title={`Delete ${deleting}? They can no longer sign in; their sessions end now and the API tokens they made are revoked.`}
          keepLabel="Keep"
          confirmLabel={`Delete ${deleting}`}
          onClose={() => setDeleting(null)}
          onConfirm={() => remove.mutate(deleting)}
        />
      )}
      <Card title="Accounts">
        <AccountsTable columns={["Name", "Role", "Sessions", "Password changed"]}>
          {(q.data?.users ?? []).map((u: UserView) => (
            <tr key={u.name} data-user={u.name} className="border-t border-slate-100 align-top">
              <td className="py-2 pr-3 font-medium text-slate-800">
                {u.name}
                {me?.name === u.name && <span className="ml-2 text-xs text-slate-500">(you)</span>}
              </td>
              <td className="py-2 pr-3">
                <RoleSelect label={`Role of ${u.name}`} value={u.role} disabled={update.isPending} onChange={(role) => update.mutate({ name: u.name, role })} />
              </td>
              <td className="py-2 pr-3 text-slate-600">{u.activeSessions}</td>
              <td className="py-2 pr-3 text-slate-600">{formatTime(u.passwordChangedAt)}</td>
              <td className="py-2 text-right">
                {resetting === u.name ? (
                  <form
                    className="flex justify-end gap-2"
                    onSubmit={(e) => {
                      e.preventDefault();
                      update.mutate({ name: u.name, password: newPassword });
                    }}
                  >
                    <input
                      aria-label={`New password for ${u.name}`}
                      type="password"
                      autoComplete="new-password"
                      minLength={MIN_PASSWORD_LENGTH}
                      required
                      className={field}
                      value={newPassword}
                      onChange={(e) => setNewPassword(e.target.value)}
                    />
                    <Button type="submit" disabled={update.isPending}>
                      Set
                    </Button>
                    <Button variant="ghost" onClick={() => setResetting(null)}>
                      Cancel
                    </Button>
                  </form>
                ) : (
                  <div className="flex justify-end gap-2">
                    <Button variant="secondary" onClick={() => setResetting(u.name)}>
                      New password…
                    </Button>
                    {me?.name !== u.name && (
                      <Button variant="danger" onClick={() => setDeleting(u.name)}>
                        Delete…
                      </Button>
                    )}
                  </div>
                )}
              </td>
            </tr>
          ))}
        </AccountsTable>
      </Card>
      <AddUser onAdded={(name) => done(`${name} was added.`)} />
    </div>
  );
}

function AddUser({ onAdded }: { onAdded: (name: string) => void }) {
  const [name, setName] = useState("");
  const [role, setRole] = useState<Role>("viewer");
  const [password, setPassword] = useState("");
  const add = useMutation({
    mutationFn: () => accountActions.createUser({ name, role, password }),
    onSuccess: (u) => {
      setName("");
      setPassword("");
      onAdded(u.name);
    },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    add.mutate();
  };
  return (
    <Card title="Add a user">
      <form onSubmit={submit} className="space-y-3">
        {add.isError && <Banner tone="error">{add.error.message}</Banner>}
        <div className="grid gap-3 sm:grid-cols-3">
          <label className="flex flex-col gap-1">
            <span className="text-xs font-medium text-slate-700">Name</span>
            <input className={field} required value={name} onChange={(e) => setName(e.target.value)} />
          </label>
          <label className="flex flex-col gap-1">
            <span className="text-xs font-medium text-slate-700">Role</span>
            <RoleSelect value={role} onChange={setRole} />
          </label>
          <label className="flex flex-col gap-1">
            <span className="text-xs font-medium text-slate-700">Password (at least {MIN_PASSWORD_LENGTH} characters)</span>
            <input
              className={field}
              type="password"
              autoComplete="new-password"
              minLength={MIN_PASSWORD_LENGTH}
              required
              value={password}
              onChange={(e) => setPassword(e.target.value)}
            />
          </label>
        </div>
        <p className="text-xs text-slate-600">
          A {role} {ROLE_TEXT[role]}.
        </p>
        <Button type="submit" disabled={add.isPending}>
          {add.isPending ? "Adding…" : "Add user"}
        </Button>
      </form>
    </Card>
  );
}
