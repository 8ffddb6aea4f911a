"use client";

import { useState } from "react";

/** A shell command in a box, with a Copy button. */
export function CommandBlock({ command, label = "Equivalent command", testId }: { command: string; label?: string; testId?: string }) {
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(command);
      setCopied(true);
      setTimeout(() => setCopied(false), 1500);
    } catch {
      setCopied(false);
    }
  };
  return (
    <div>
      <p className="mb-1 text-xs font-medium text-slate-500">{label}</p>
      <div className="flex items-start gap-2 rounded-md bg-slate-900 px-3 py-2 text-slate-100">
        <code data-testid={testId} className="min-w-0 flex-1 break-all font-mono text-xs leading-5">
          {command}
        </code>
        <button type="button" onClick={copy} className="shrink-0 rounded border border-slate-600 px-2 py-0.5 text-xs text-slate-200 hover:bg-slate-700">
          {copied ? "Copied" : "Copy"}
        </button>
      </div>
    </div>
  );
}
