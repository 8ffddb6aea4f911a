"use client";

import { useEffect, useState } from "react";
import { Button } from "@/components/ui/button";
import { Card } from "@/components/ui/card";
import type { WizardStepProps } from "@/components/wizard/types";
import type { RestoreWizardAction, RestoreWizardView } from "@/lib/restore/contracts";
import { AgentProblemBanner, HealthSummary } from "./health-summary";

/** What each restore step gets. */
export type StepProps = WizardStepProps<RestoreWizardView, RestoreWizardAction>;

/**
 * Step 1, Where: this cluster's server (the configured agent) or a new machine's agent (URL, token
 * and certificate fingerprint; the token goes to the dashboard's server and never comes back).
 * Shows the agent's health.
 */
export function WhereStep({ view, busy, act }: StepProps) {
  const s = view.state;
  const [kind, setKind] = useState<"configured" | "new">(s.target?.kind ?? (view.configuredAgent ? "configured" : "new"));
  const [url, setUrl] = useState(s.target?.kind === "new" ? s.target.url : "");
  const [token, setToken] = useState("");
  const [fingerprint, setFingerprint] = useState(s.target?.kind === "new" ? (s.target.fingerprint ?? "") : "");
  const plainHttp = /^http:\/\//i.test(url.trim()) && !/^http:\/\/(localhost|127\.|\[::1\])/i.test(url.trim());
  // Once the dashboard's server holds the token, the page forgets it.
  useEffect(() => setToken(""), [s.target?.targetId]);
  const savedNew = s.target?.kind === "new" && s.target.url === url.trim().replace(/\/+$/, "");
  // The same new machine again without retyping the token: the server still holds it.
  const check = () =>
    kind === "new" && savedNew && !token.trim()
      ? act({ action: "recheck" })
      : act({ action: "check-target", target: kind === "configured" ? { kind } : { kind, url, token, fingerprint } });
  const checked = s.target && (s.health || s.agentProblem);
  const sameChoice = s.target?.kind === kind && (kind === "configured" || s.target.url === url.trim().replace(/\/+$/, ""));

  return (
    <div className="space-y-4">
      <Card title="1. Where do you restore?">
        <fieldset className="space-y-3 text-sm">
          <legend className="sr-only">Target</legend>
          <label
            className={`flex cursor-pointer items-start gap-3 rounded-md border p-3 ${kind === "configured" ? "border-blue-400 bg-blue-50/50" : "border-slate-200"} ${view.configuredAgent ? "" : "opacity-60"}`}
          >
            <input
              type="radio"
              name="target"
              className="mt-1"
              checked={kind === "configured"}
              disabled={!view.configuredAgent}
              onChange={() => setKind("configured")}
            />
            <span>
              <span className="font-medium text-slate-800">This cluster&apos;s server</span>
              <span className="block text-slate-600">
                {view.configuredAgent ? (
                  <>
                    The agent the dashboard is configured with: <span className="font-mono text-xs">{view.configuredAgent}</span>. Use this when the server is
                    still there and only its database is damaged.
                  </>
                ) : (
                  "No agent is configured (LIFEBOAT_AGENT_URL / LIFEBOAT_AGENT_TOKEN)."
                )}
              </span>
            </span>
          </label>
          <div className={`rounded-md border p-3 ${kind === "new" ? "border-blue-400 bg-blue-50/50" : "border-slate-200"}`}>
            <label className="flex cursor-pointer items-start gap-3">
              <input type="radio" name="target" className="mt-1" checked={kind === "new"} onChange={() => setKind("new")} />
              <span className="flex-1">
                <span className="font-medium text-slate-800">A new machine</span>
                <span className="block text-slate-600">
                  The master migration: flash a new server, install k3s and the Lifeboat agent (with the same bucket and passphrase), then restore there. The
                  token stays on the dashboard&apos;s server.
                </span>
              </span>
            </label>
            {kind === "new" && (
              <div className="ml-7 mt-3 grid gap-2 sm:grid-cols-2">
                <label className="flex flex-col gap-1">
                  <span className="text-xs font-medium text-slate-700">Agent URL</span>
                  <input
                    className="rounded-md border border-slate-300 px-2 py-1 font-mono text-sm"
                    placeholder="https://192.168.1.20:7070"
                    value={url}
                    onChange={(e) => setUrl(e.target.value)}
                  />
                </label>
                <label className="flex flex-col gap-1">
                  <span className="text-xs font-medium text-slate-700">Agent token</span>
                  <input
                    type="password"
                    autoComplete="off"
                    className="rounded-md border border-slate-300 px-2 py-1 font-mono text-sm"
                    placeholder={s.target?.kind === "new" ? "(kept on the server — type it again to change it)" : "LIFEBOAT_AGENT_TOKEN of that machine"}
                    value={token}
                    onChange={(e) => setToken(e.target.value)}
                  />
                </label>
                <label className="flex flex-col gap-1 sm:col-span-2">
                  <span className="text-xs font-medium text-slate-700">
                    Certificate fingerprint (SHA-256: <span className="font-mono">lifeboat-agent status</span> prints it on that machine)
                  </span>
                  <input
                    className="rounded-md border border-slate-300 px-2 py-1 font-mono text-xs"
                    placeholder="AB:CD:…:EF"
                    spellCheck={false}
                    value={fingerprint}
                    onChange={(e) => setFingerprint(e.target.value)}
                  />
                </label>
                {plainHttp && (
                  <p className="text-xs text-amber-800 sm:col-span-2">
                    Plain http:// sends the token across the network in clear; the dashboard allows it only with LIFEBOAT_AGENT_INSECURE_HTTP=true. The agent
                    answers https:// by default.
                  </p>
                )}
              </div>
            )}
          </div>
        </fieldset>
        <div className="mt-4 flex items-center gap-3">
          <Button
            onClick={check}
            disabled={busy || (kind === "new" && (!url.trim() || (!token.trim() && !savedNew)))}
            variant={checked && sameChoice ? "secondary" : "primary"}
          >
            {busy ? "Asking the agent…" : checked && sameChoice ? "Check again" : "Check this agent"}
          </Button>
          {checked && sameChoice && s.health && (
            <Button onClick={() => act({ action: "accept-target" })} disabled={busy}>
              Restore onto this machine →
            </Button>
          )}
        </div>
      </Card>
      {s.agentProblem && s.target && <AgentProblemBanner problem={s.agentProblem} />}
      {s.health && s.target && (
        <Card title="The target">
          <HealthSummary url={s.target.url} report={s.health} />
        </Card>
      )}
    </div>
  );
}
