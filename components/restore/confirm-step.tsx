"use client";

import { useState } from "react";
import { Banner } from "@/components/ui/banner";
import { Button } from "@/components/ui/button";
import { Card } from "@/components/ui/card";
import { DiffSummary } from "./diff-summary";
import type { StepProps } from "./where-step";

/**
 * Step 5, Confirm: exactly what will happen on the target, what restoring loses, and the node's
 * name typed by the user (the agent refuses to go on under another host name).
 */
export function ConfirmStep({ view, busy, act }: StepProps) {
  const s = view.state;
  const rec = s.record;
  const [host, setHost] = useState("");
  const owner = s.health?.ownership.expected;
  const serverDir = s.health?.serverDir ?? "<server dir>";
  const token = rec?.verification?.staged.token && s.include.token;
  // A name the agent itself reported must match; one from an old manifest is only a hint (the agent checks).
  const strict = s.hostHintSource === "the agent";
  const typedOk = host.trim() !== "" && (!strict || host.trim() === s.hostHint);
  return (
    <div className="space-y-4">
      <Card title="5. Confirm">
        <div className="space-y-3 text-sm text-slate-800">
          <p className="font-medium">
            When you confirm, the agent on {s.hostHint ? <span className="font-mono">{s.hostHint}</span> : "the target"} ({s.target?.url}) will:
          </p>
          <ol className="list-decimal space-y-1 pl-5" data-testid="what-happens">
            <li>
              stop k3s (its stop command, by default <code>systemctl stop k3s</code>) and wait until nothing holds the database;
            </li>
            <li>
              move the current <code>{serverDir}/db</code> aside to <code>{serverDir}/db.before-restore-&lt;timestamp&gt;</code> — it is kept, never deleted;
            </li>
            <li>
              put the restored <code>db/</code> in place and remove any stale <code>state.db-wal</code> / <code>state.db-shm</code>
              {token ? "; replace the token (the previous one is kept as token.before-restore-<timestamp>)" : ""}
              {s.include.cred ? "; replace cred/" : ""}
              {s.include.tls ? "; replace tls/" : ""};
            </li>
            <li>
              give the restored files the owner <code>{owner ? `${owner.uid}:${owner.gid}` : "configured"}</code>
              {owner && owner.uid === 0 && owner.gid === 0 ? " (root:root)" : ""} with mode <code>0600</code> (directories <code>0700</code>), fsynced;
            </li>
            <li>start k3s and check that the database passes quick_check, owner and mode hold, and k3s runs.</li>
          </ol>
          <p className="text-slate-600">Until you mark the restore done, you can roll back: the moved-aside database goes back the same way.</p>
        </div>
      </Card>
      {rec && (
        <Card title="What restoring loses">
          <DiffSummary diff={rec.diff} diffError={rec.diffError} />
        </Card>
      )}
      <Card title="Type the node's name">
        <form
          className="space-y-3 text-sm"
          onSubmit={(e) => {
            e.preventDefault();
            if (typedOk) act({ action: "confirm", host: host.trim(), ...(s.restoreId ? { restoreId: s.restoreId } : {}) });
          }}
        >
          <label className="block">
            <span className="text-slate-700">
              {s.hostHint ? (
                <>
                  Type <span className="font-mono font-semibold">{s.hostHint}</span> (the host name{" "}
                  {s.hostHintSource === "the agent" ? "the agent reports" : `from ${s.hostHintSource}`}) to confirm.
                </>
              ) : (
                <>
                  Type the host name of the machine the agent runs on (<code>hostname</code> on it); the agent refuses any other.
                </>
              )}
            </span>
            <input
              aria-label="Node name"
              className="mt-1 block w-72 rounded-md border border-slate-300 px-2 py-1 font-mono"
              value={host}
              onChange={(e) => setHost(e.target.value)}
              autoComplete="off"
              spellCheck={false}
            />
          </label>
          {host.trim() && s.hostHint && host.trim() !== s.hostHint && (
            <p className="text-amber-900">
              That is not {s.hostHint}
              {strict ? "." : ": the agent will refuse it unless it is the machine's host name."}
            </p>
          )}
          <div className="flex items-center gap-3">
            <Button type="submit" variant="danger" disabled={busy || !typedOk}>
              {busy ? "Starting…" : `Restore ${host.trim() || "the node"} now`}
            </Button>
            <Button variant="ghost" onClick={() => act({ action: "back", to: "preview" })} disabled={busy}>
              ← Back (drops the staged backup)
            </Button>
          </div>
        </form>
      </Card>
      {rec && !rec.canConfirm && (
        <Banner tone="warning">
          The staged backup can no longer be confirmed ({rec.status}). {rec.targetState}
        </Banner>
      )}
    </div>
  );
}
