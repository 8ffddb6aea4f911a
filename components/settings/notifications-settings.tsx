"use client";

import { useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Badge } from "@/components/ui/badge";
import { Banner, ConfirmBanner } from "@/components/ui/banner";
import { Button } from "@/components/ui/button";
import { Card } from "@/components/ui/card";
import { PageHeader } from "@/components/ui/page-header";
import { formatAge, formatTime } from "@/components/ui/format";
import type { ChannelInput, ChannelView, DeliveryView, TestResult } from "@/lib/contracts/alerts";
import { ChannelForm, TYPE_LABELS } from "./channel-form";
import { notificationActions, notificationSettingsQuery, settingsKeys } from "./queries";

const OUTCOME_TONE = { delivered: "ok", retrying: "warning", failed: "critical" } as const;

function TestOutcome({ r }: { r: TestResult }) {
  return (
    <p role="status" data-testid="test-result" className={`text-xs ${r.ok ? "text-emerald-800" : "text-red-800"}`}>
      {r.ok
        ? `Test delivered${r.status ? ` (${r.status})` : ""} in ${Math.round(r.millis)} ms.`
        : `Test failed: ${r.detail ?? "no detail"}${r.status ? ` (${r.status})` : ""}.`}
    </p>
  );
}

function ChannelRow({ channel }: { channel: ChannelView }) {
  const qc = useQueryClient();
  const [editing, setEditing] = useState(false);
  const [confirming, setConfirming] = useState(false);
  const done = () => qc.invalidateQueries({ queryKey: settingsKeys.all });
  const test = useMutation({ mutationFn: () => notificationActions.test(channel.id), onSettled: done });
  const update = useMutation({
    mutationFn: (input: ChannelInput) => notificationActions.update(channel.id, input),
    onSuccess: () => setEditing(false),
    onSettled: done,
  });
  const remove = useMutation({ mutationFn: () => notificationActions.remove(channel.id), onSettled: done });
  const last = channel.lastDelivery;
  return (
    <li data-testid="channel" data-channel-label={channel.label} className="space-y-2 py-3 first:pt-0 last:pb-0">
      <div className="flex flex-wrap items-start justify-between gap-3">
        <div className="space-y-1">
          <div className="flex flex-wrap items-center gap-2">
            <span className="font-semibold">{channel.label}</span>
            <Badge tone="info">{TYPE_LABELS[channel.type]}</Badge>
            {channel.origin === "environment" && <Badge>from the environment</Badge>}
            {!channel.enabled && <Badge tone="warning">disabled</Badge>}
            {channel.type !== "ping" && channel.minSeverity === "critical" && <Badge>critical only</Badge>}
          </div>
          <p className="font-mono text-xs text-slate-600">{channel.target}</p>
          {last && (
            <p className="text-xs text-slate-600">
              Last: {last.event} <Badge tone={OUTCOME_TONE[last.outcome]}>{last.outcome}</Badge>
              {last.status ? ` ${last.status}` : ""} · {formatAge(last.at)}
            </p>
          )}
        </div>
        <div className="flex gap-2">
          <Button variant="secondary" onClick={() => test.mutate()} disabled={test.isPending}>
            {test.isPending ? "Sending…" : "Send a test"}
          </Button>
          {channel.origin === "settings" && (
            <>
              <Button variant="secondary" onClick={() => setEditing((e) => !e)}>
                Edit
              </Button>
              <Button variant="ghost" onClick={() => setConfirming(true)}>
                Delete
              </Button>
            </>
          )}
        </div>
      </div>
      {test.data && <TestOutcome r={test.data} />}
      {test.error && <p className="text-xs text-red-800">{test.error.message}</p>}
      {confirming && (
        <ConfirmBanner
          title={`Delete "${channel.label}"?`}
          keepLabel="Keep it"
          confirmLabel="Delete"
          onClose={() => setConfirming(false)}
          onConfirm={() => remove.mutate()}
        >
          Messages it still has to send are dropped.
        </ConfirmBanner>
      )}
      {remove.error && <p className="text-xs text-red-800">{remove.error.message}</p>}
      {editing && (
        <div className="rounded-md border border-slate-200 p-3">
          <ChannelForm
            initial={channel}
            busy={update.isPending}
            error={update.error?.message ?? null}
            onSubmit={(i) => update.mutate(i)}
            onCancel={() => setEditing(false)}
          />
        </div>
      )}
    </li>
  );
}

function DeliveryLog({ rows }: { rows: DeliveryView[] }) {
  if (!rows.length) return <p className="text-sm text-slate-600">Nothing sent yet.</p>;
  return (
    <div className="relative overflow-x-auto">
      <table className="w-full text-left text-sm" data-testid="delivery-log">
        <thead className="border-b border-slate-200 text-xs uppercase tracking-wide text-slate-500">
          <tr>
            <th className="px-2 py-2 font-medium">Time</th>
            <th className="px-2 py-2 font-medium">Channel</th>
            <th className="px-2 py-2 font-medium">What</th>
            <th className="px-2 py-2 font-medium">Outcome</th>
          </tr>
        </thead>
        <tbody className="divide-y divide-slate-100">
          {rows.map((d) => (
            <tr key={d.id}>
              <td className="whitespace-nowrap px-2 py-1.5 text-xs tabular-nums">{formatTime(d.at)}</td>
              <td className="px-2 py-1.5 text-xs">{d.channelLabel}</td>
              <td className="px-2 py-1.5 text-xs">
                {d.event}
                {d.alertKey ? <span className="font-mono text-slate-500"> {d.alertKey}</span> : null}
              </td>
              <td className="px-2 py-1.5 text-xs">
                <Badge tone={OUTCOME_TONE[d.outcome]}>{d.outcome}</Badge> {d.status ?? ""} #{d.attempt}
                {d.detail ? <span className="text-slate-600"> · {d.detail}</span> : null}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** Settings → Notifications: channels (with "Send a test"), reminders, and the delivery log. */
export function NotificationsSettings() {
  const qc = useQueryClient();
  const q = useQuery(notificationSettingsQuery());
  const [adding, setAdding] = useState(false);
  const [hours, setHours] = useState<string | null>(null);
  const done = () => qc.invalidateQueries({ queryKey: settingsKeys.all });
  const create = useMutation({ mutationFn: notificationActions.create, onSuccess: () => setAdding(false), onSettled: done });
  const prefs = useMutation({ mutationFn: notificationActions.preferences, onSuccess: () => setHours(null), onSettled: done });
  const data = q.data;
  return (
    <div className="space-y-5">
      <PageHeader title="Notifications" subtitle="Where Lifeboat tells someone: when an alert fires, when it resolves, and after each good backup." />
      {q.isError && <Banner tone="error">{q.error.message}</Banner>}
      {data && (
        <Card title="Channels" actions={!adding && <Button onClick={() => setAdding(true)}>Add a channel</Button>}>
          {adding && (
            <div className="mb-4 rounded-md border border-slate-200 p-3">
              <ChannelForm busy={create.isPending} error={create.error?.message ?? null} onSubmit={(i) => create.mutate(i)} onCancel={() => setAdding(false)} />
            </div>
          )}
          {data.channels.length === 0 ? (
            <p className="text-sm text-slate-600">
              No channel yet: alerts show on the Alerts page only. Add one here, or set <code>LIFEBOAT_WEBHOOK_URL</code> (and the other LIFEBOAT_* variables)
              and restart the dashboard. Alerts firing when a channel is added are sent to it once.
            </p>
          ) : (
            <ul className="divide-y divide-slate-100">
              {data.channels.map((c) => (
                <ChannelRow key={c.id} channel={c} />
              ))}
            </ul>
          )}
          <p className="mt-3 text-xs text-slate-500">
            Links in notifications point to <span className="font-mono">{data.publicUrl}</span> (LIFEBOAT_PUBLIC_URL). Secrets never come back to this page:
            only their last characters.
          </p>
        </Card>
      )}
      {data && (
        <Card title="Reminders">
          <form
            className="flex flex-wrap items-end gap-3"
            onSubmit={(e) => {
              e.preventDefault();
              prefs.mutate({ remindEveryHours: Number(hours ?? data.remindEveryHours) });
            }}
          >
            <label className="text-sm font-medium text-slate-700">
              Remind every (hours, 0 = never)
              <input
                className="mt-1 block w-32 rounded-md border border-slate-300 px-2 py-1.5 text-sm"
                type="number"
                min={0}
                step={1}
                value={hours ?? String(data.remindEveryHours)}
                onChange={(e) => setHours(e.target.value)}
              />
            </label>
            <Button type="submit" variant="secondary" disabled={prefs.isPending || hours === null}>
              Save
            </Button>
            {prefs.error && <p className="text-sm text-red-800">{prefs.error.message}</p>}
          </form>
          <p className="mt-2 text-xs text-slate-500">
            An alert is sent once when it fires and once when it resolves; reminders repeat it while it keeps firing.
          </p>
        </Card>
      )}
      {data && (
        <Card title="Recent deliveries">
          <DeliveryLog rows={data.deliveries} />
        </Card>
      )}
    </div>
  );
}
