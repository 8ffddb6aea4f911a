"use client";

import { useId, useState, type ReactNode } from "react";
import { Button } from "@/components/ui/button";
import { CHANNEL_TYPES, type ChannelInput, type ChannelType, type ChannelView } from "@/lib/contracts/alerts";

/** The add / edit form of a channel. Secret fields start empty; left empty on an edit they keep the stored value. */

export const TYPE_LABELS: Record<ChannelType, string> = {
  webhook: "Webhook (JSON)",
  slack: "Slack-compatible",
  discord: "Discord",
  ntfy: "ntfy",
  gotify: "Gotify",
  email: "E-mail (SMTP)",
  ping: "Dead-man's switch (ping)",
};

const HINTS: Record<ChannelType, string> = {
  webhook: "POSTs JSON with alert, severity, state, setId, summary and url; signed (X-Lifeboat-Signature: sha256=…) when a secret is set.",
  slack: "An incoming-webhook URL (Slack, Mattermost, Rocket.Chat…).",
  discord: "A channel's webhook URL (Server settings → Integrations → Webhooks).",
  ntfy: "The topic's URL, e.g. https://ntfy.sh/my-lifeboat-alerts; a token when the server wants one.",
  gotify: "The server's URL and an application token.",
  email: "An SMTP server; the password is stored on the dashboard server only.",
  ping: "A healthchecks.io-style URL, called after each successful backup and restore drill: silence itself alerts.",
};

type Field = { name: string; label: string; type?: string; secret?: boolean; placeholder?: string };
const FIELDS: Record<ChannelType, Field[]> = {
  webhook: [
    { name: "url", label: "URL", secret: true, placeholder: "https://example.com/hooks/lifeboat" },
    { name: "secret", label: "Signing secret (optional)", secret: true },
  ],
  slack: [{ name: "url", label: "Webhook URL", secret: true, placeholder: "https://hooks.slack.com/services/…" }],
  discord: [{ name: "url", label: "Webhook URL", secret: true, placeholder: "https://discord.com/api/webhooks/…" }],
  ntfy: [
    { name: "url", label: "Topic URL", secret: true, placeholder: "https://ntfy.sh/my-topic" },
    { name: "token", label: "Access token (optional)", secret: true },
  ],
  gotify: [
    { name: "url", label: "Server URL", placeholder: "https://gotify.example.com" },
    { name: "token", label: "Application token", secret: true },
  ],
  email: [
    { name: "host", label: "SMTP server" },
    { name: "port", label: "Port", type: "number", placeholder: "587" },
    { name: "username", label: "User name (optional)" },
    { name: "password", label: "Password (optional)", secret: true },
    { name: "from", label: "From", placeholder: "lifeboat@example.com" },
    { name: "to", label: "To (comma-separated)", placeholder: "ops@example.com" },
  ],
  ping: [{ name: "url", label: "Ping URL", secret: true, placeholder: "https://hc-ping.com/<uuid>" }],
};

const input = "mt-1 block w-full rounded-md border border-slate-300 px-2 py-1.5 text-sm";

function Labeled({ label, children }: { label: string; children: ReactNode }) {
  return (
    <label className="block text-sm font-medium text-slate-700">
      {label}
      {children}
    </label>
  );
}

export function ChannelForm({
  initial,
  busy,
  error,
  onSubmit,
  onCancel,
}: {
  initial?: ChannelView;
  busy: boolean;
  error: string | null;
  onSubmit: (input: ChannelInput) => void;
  onCancel?: () => void;
}) {
  const id = useId();
  const [type, setType] = useState<ChannelType>(initial?.type ?? "webhook");
  const [label, setLabel] = useState(initial?.label ?? "");
  const [enabled, setEnabled] = useState(initial?.enabled ?? true);
  const [minSeverity, setMinSeverity] = useState(initial?.minSeverity ?? "warning");
  const [values, setValues] = useState<Record<string, string>>(() =>
    Object.fromEntries(Object.entries(initial?.fields ?? { security: "starttls", port: 587 }).map(([k, v]) => [k, String(v)])),
  );
  const set = (k: string, v: string) => setValues((cur) => ({ ...cur, [k]: v }));

  function submit(e: React.FormEvent) {
    e.preventDefault();
    const s: Record<string, unknown> = { type };
    for (const f of FIELDS[type]) {
      const v = (values[f.name] ?? "").trim();
      if (f.type === "number") s[f.name] = Number(v || f.placeholder);
      else if (v || f.secret || f.name === "url") s[f.name] = v;
    }
    if (type === "email") s.security = values.security ?? "starttls";
    onSubmit({ label, enabled, minSeverity, settings: s as ChannelInput["settings"] });
  }

  return (
    <form onSubmit={submit} className="space-y-3" aria-label={initial ? `Edit ${initial.label}` : "Add a channel"}>
      <div className="grid gap-3 sm:grid-cols-2">
        <Labeled label="Type">
          <select className={input} value={type} disabled={Boolean(initial)} onChange={(e) => setType(e.target.value as ChannelType)}>
            {CHANNEL_TYPES.map((t) => (
              <option key={t} value={t}>
                {TYPE_LABELS[t]}
              </option>
            ))}
          </select>
        </Labeled>
        <Labeled label="Name">
          <input className={input} value={label} onChange={(e) => setLabel(e.target.value)} placeholder="e.g. Ops chat" required />
        </Labeled>
      </div>
      <p className="text-xs text-slate-600">{HINTS[type]}</p>
      <div className="grid gap-3 sm:grid-cols-2">
        {FIELDS[type].map((f) => (
          <Labeled key={`${type}-${f.name}`} label={f.label}>
            <input
              className={input}
              type={f.secret ? "password" : (f.type ?? "text")}
              autoComplete="off"
              value={values[f.name] ?? ""}
              placeholder={f.secret && initial?.secrets[f.name] ? "stored — leave empty to keep it" : f.placeholder}
              onChange={(e) => set(f.name, e.target.value)}
            />
          </Labeled>
        ))}
        {type === "email" && (
          <Labeled label="Security">
            <select className={input} value={values.security ?? "starttls"} onChange={(e) => set("security", e.target.value)}>
              <option value="starttls">STARTTLS (port 587)</option>
              <option value="tls">TLS (port 465)</option>
              <option value="none">None (a relay on a trusted network)</option>
            </select>
          </Labeled>
        )}
      </div>
      {type !== "ping" && (
        <div className="flex flex-wrap gap-4 text-sm">
          <label className="flex items-center gap-2" htmlFor={`${id}-sev`}>
            Send
            <select
              id={`${id}-sev`}
              className="rounded-md border border-slate-300 px-2 py-1"
              value={minSeverity}
              onChange={(e) => setMinSeverity(e.target.value as "warning")}
            >
              <option value="warning">warnings and critical alerts</option>
              <option value="critical">critical alerts only</option>
            </select>
          </label>
        </div>
      )}
      <label className="flex items-center gap-2 text-sm">
        <input type="checkbox" checked={enabled} onChange={(e) => setEnabled(e.target.checked)} /> Enabled
      </label>
      {error && (
        <p role="alert" className="text-sm text-red-800">
          {error}
        </p>
      )}
      <div className="flex gap-2">
        <Button type="submit" disabled={busy}>
          {initial ? "Save" : "Add channel"}
        </Button>
        {onCancel && (
          <Button variant="secondary" onClick={onCancel}>
            Cancel
          </Button>
        )}
      </div>
    </form>
  );
}
