"use client";

import Link from "next/link";
import { useQuery } from "@tanstack/react-query";
import { Badge } from "@/components/ui/badge";
import { Banner } from "@/components/ui/banner";
import { Card } from "@/components/ui/card";
import { PageHeader } from "@/components/ui/page-header";
import { formatAge, formatTime } from "@/components/ui/format";
import { describeDuration } from "@/lib/backups/describe";
import { ALERT_DESCRIPTIONS } from "@/lib/alerts/rules/descriptions";
import type { AlertView, DeliveryView } from "@/lib/contracts/alerts";
import { alertsQuery } from "./queries";

/** Per channel, the newest attempt: "Team chat: delivered (200)". */
export function deliverySummary(deliveries: readonly DeliveryView[]): { label: string; outcome: DeliveryView["outcome"]; text: string }[] {
  const newest = new Map<string, DeliveryView>();
  for (const d of deliveries) if (!newest.has(d.channelId) || newest.get(d.channelId)!.id < d.id) newest.set(d.channelId, d);
  return [...newest.values()].map((d) => ({
    label: d.channelLabel,
    outcome: d.outcome,
    text: `${d.event} ${d.outcome}${d.status ? ` (${d.status})` : ""}${d.outcome !== "delivered" && d.attempt > 1 ? ` after ${d.attempt} attempts` : ""}${d.detail && d.outcome !== "delivered" ? `: ${d.detail}` : ""}`,
  }));
}

const TONE = { delivered: "ok", retrying: "warning", failed: "critical" } as const;

export function Deliveries({ alert, channels }: { alert: AlertView; channels: number }) {
  const rows = deliverySummary(alert.deliveries);
  if (!rows.length)
    return (
      <p className="text-xs text-slate-500" data-testid="alert-delivery">
        {channels === 0 ? "Delivered nowhere: no notification channel is configured." : "Not delivered yet."}
      </p>
    );
  return (
    <ul className="flex flex-wrap gap-1.5" data-testid="alert-delivery">
      {rows.map((r) => (
        <li key={r.label}>
          <Badge tone={TONE[r.outcome]} title={r.text}>
            {r.label}: {r.text}
          </Badge>
        </li>
      ))}
    </ul>
  );
}

function Scope({ alert }: { alert: AlertView }) {
  return (
    <span className="text-xs text-slate-600">
      {alert.setId && (
        <>
          Backup set{" "}
          <Link className="font-mono text-blue-700 hover:underline" href={`/backups/${encodeURIComponent(alert.setId)}`}>
            {alert.setId}
          </Link>
        </>
      )}
      {alert.node && <>Node {alert.node}</>}
    </span>
  );
}

function FiringAlert({ alert, channels, now }: { alert: AlertView; channels: number; now: Date }) {
  const d = ALERT_DESCRIPTIONS[alert.name];
  return (
    <li data-testid="firing-alert" data-alert-key={alert.key} className="space-y-2 py-3 first:pt-0 last:pb-0">
      <div className="flex flex-wrap items-center gap-2">
        <Badge tone={alert.severity}>{alert.severity === "critical" ? "Critical" : "Warning"}</Badge>
        <Link href={alert.path} className="font-semibold text-slate-900 hover:underline">
          {d.title}
        </Link>
        <span className="font-mono text-xs text-slate-500">{alert.key}</span>
        <span className="text-xs text-slate-500" title={alert.startedAt}>
          firing for {describeDuration(now.getTime() - Date.parse(alert.startedAt))}
        </span>
      </div>
      <p className="text-sm text-slate-800">{alert.summary}</p>
      <div className="flex flex-wrap items-center gap-3">
        <Scope alert={alert} />
        <Link href={`/alerts/${encodeURIComponent(alert.key)}`} className="text-xs text-blue-700 hover:underline">
          What this means and what to do
        </Link>
      </div>
      <Deliveries alert={alert} channels={channels} />
    </li>
  );
}

/** The Alerts page: what fires now (critical first) and what resolved, each with where it was delivered. */
export function AlertsPage() {
  const q = useQuery(alertsQuery());
  const now = new Date();
  const data = q.data;
  return (
    <div className="space-y-5">
      <PageHeader
        title="Alerts"
        subtitle={
          data?.evaluatedAt
            ? `Rules evaluated ${formatAge(data.evaluatedAt, now)}: after every catalog refresh, agent poll, drill and backup job.`
            : "What Lifeboat found wrong, and whom it told."
        }
      />
      {q.isError && <Banner tone="error">{q.error.message}</Banner>}
      {data && data.channels === 0 && (
        <Banner tone="warning" title="Alerts are delivered nowhere">
          No notification channel is configured, so nobody is told when an alert fires. Add one in{" "}
          <Link className="underline" href="/settings/notifications">
            Settings → Notifications
          </Link>{" "}
          (or set <code>LIFEBOAT_WEBHOOK_URL</code>); alerts firing now are then sent to it once.
        </Banner>
      )}
      {data && (
        <Card title={`Firing now (${data.firing.length})`}>
          {data.firing.length === 0 ? (
            <p className="text-sm text-emerald-800">Nothing is firing.</p>
          ) : (
            <ul className="divide-y divide-slate-100">
              {data.firing.map((a) => (
                <FiringAlert key={a.id} alert={a} channels={data.channels} now={now} />
              ))}
            </ul>
          )}
        </Card>
      )}
      {data && (
        <Card title="History">
          {data.history.length === 0 ? (
            <p className="text-sm text-slate-600">No alert has resolved yet.</p>
          ) : (
            <div className="relative overflow-x-auto">
              <table className="w-full text-left text-sm" data-testid="alert-history">
                <thead className="border-b border-slate-200 text-xs uppercase tracking-wide text-slate-500">
                  <tr>
                    <th className="px-2 py-2 font-medium">Resolved</th>
                    <th className="px-2 py-2 font-medium">Alert</th>
                    <th className="px-2 py-2 font-medium">Summary</th>
                    <th className="px-2 py-2 font-medium">Fired for</th>
                    <th className="px-2 py-2 font-medium">Told</th>
                  </tr>
                </thead>
                <tbody className="divide-y divide-slate-100">
                  {data.history.map((a) => (
                    <tr key={a.id} className="align-top" data-testid="history-row">
                      <td className="whitespace-nowrap px-2 py-2 text-xs tabular-nums">{formatTime(a.resolvedAt!)}</td>
                      <td className="px-2 py-2">
                        <Badge tone={a.severity}>{a.severity}</Badge>{" "}
                        <Link className="text-blue-700 hover:underline" href={`/alerts/${encodeURIComponent(a.key)}`}>
                          {ALERT_DESCRIPTIONS[a.name].title}
                        </Link>
                        <div className="font-mono text-xs text-slate-500">{a.key}</div>
                      </td>
                      <td className="px-2 py-2 text-xs text-slate-700">{a.summary}</td>
                      <td className="whitespace-nowrap px-2 py-2 text-xs">{describeDuration(Date.parse(a.resolvedAt!) - Date.parse(a.startedAt))}</td>
                      <td className="px-2 py-2">
                        <Deliveries alert={a} channels={data.channels} />
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </Card>
      )}
    </div>
  );
}
