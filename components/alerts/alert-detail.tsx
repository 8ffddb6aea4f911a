import Link from "next/link";
import { Badge } from "@/components/ui/badge";
import { Card } from "@/components/ui/card";
import { PageHeader } from "@/components/ui/page-header";
import { formatTime } from "@/components/ui/format";
import { describeDuration } from "@/lib/backups/describe";
import { ALERT_DESCRIPTIONS } from "@/lib/alerts/rules/descriptions";
import type { AlertName, AlertView } from "@/lib/contracts/alerts";
import { Deliveries } from "./alerts-page";

/** One alert's page: what it means, what to do, and every episode of it with where it was delivered. */
export function AlertDetail({ name, alertKey, episodes, channels }: { name: AlertName; alertKey: string; episodes: AlertView[]; channels: number }) {
  const d = ALERT_DESCRIPTIONS[name];
  const current = episodes.find((e) => e.state === "firing") ?? null;
  return (
    <div className="space-y-5">
      <PageHeader
        title={d.title}
        subtitle={
          <>
            <span className="font-mono text-xs">{alertKey}</span> ·{" "}
            {current ? (
              <Badge tone={current.severity}>{`Firing (${current.severity}) since ${formatTime(current.startedAt)}`}</Badge>
            ) : (
              <Badge tone="ok">Not firing</Badge>
            )}
          </>
        }
        actions={
          <Link className="rounded-md px-3 py-1.5 text-sm ring-1 ring-inset ring-slate-300 hover:bg-slate-100" href="/alerts">
            All alerts
          </Link>
        }
      />
      {current && (
        <Card title="Now">
          <p className="text-sm text-slate-800" data-testid="alert-summary">
            {current.summary}
          </p>
          {current.setId && (
            <p className="mt-2 text-sm">
              <Link className="text-blue-700 hover:underline" href={`/backups/${encodeURIComponent(current.setId)}`}>
                Open backup set {current.setId}
              </Link>
            </p>
          )}
          <div className="mt-3">
            <Deliveries alert={current} channels={channels} />
          </div>
        </Card>
      )}
      <Card title="What it means">
        <p className="text-sm text-slate-800">{d.means}</p>
        <h3 className="mt-3 text-sm font-semibold text-slate-800">What to do</h3>
        <p className="text-sm text-slate-800">{d.todo}</p>
      </Card>
      <Card title="Episodes">
        {episodes.length === 0 ? (
          <p className="text-sm text-slate-600">This alert has not fired.</p>
        ) : (
          <ul className="divide-y divide-slate-100">
            {episodes.map((e) => (
              <li key={e.id} className="space-y-1 py-2">
                <div className="text-xs text-slate-600">
                  <Badge tone={e.severity}>{e.severity}</Badge> {formatTime(e.startedAt)}
                  {e.resolvedAt ? ` → ${formatTime(e.resolvedAt)} (${describeDuration(Date.parse(e.resolvedAt) - Date.parse(e.startedAt))})` : " → firing"}
                </div>
                <p className="text-sm text-slate-800">{e.summary}</p>
                <Deliveries alert={e} channels={channels} />
              </li>
            ))}
          </ul>
        )}
      </Card>
    </div>
  );
}
