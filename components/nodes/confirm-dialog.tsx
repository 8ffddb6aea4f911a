"use client";

import { useEffect, useId, useRef, useState, type ReactNode } from "react";
import { Button } from "@/components/ui/button";
import { CommandBlock } from "./kubectl-command";

/**
 * A modal confirmation sized to the damage: a plain "Confirm" for reversible actions, a typed name
 * for destructive ones (`typeToConfirm`). Always shows the equivalent command.
 */
export function ConfirmDialog({
  title,
  children,
  command,
  confirmLabel,
  danger = false,
  typeToConfirm,
  busy = false,
  error,
  onConfirm,
  onCancel,
}: {
  title: string;
  children?: ReactNode;
  command: string;
  confirmLabel: string;
  danger?: boolean;
  typeToConfirm?: string;
  busy?: boolean;
  error?: string | null;
  onConfirm: () => void;
  onCancel: () => void;
}) {
  const [typed, setTyped] = useState("");
  const titleId = useId();
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) d.showModal();
  }, []);
  const ready = !typeToConfirm || typed === typeToConfirm;
  return (
    <dialog
      ref={ref}
      aria-labelledby={titleId}
      onCancel={(e) => {
        e.preventDefault();
        if (!busy) onCancel();
      }}
      className="m-auto w-full max-w-lg rounded-lg border border-slate-200 p-0 shadow-xl backdrop:bg-slate-900/40"
    >
      <form
        method="dialog"
        onSubmit={(e) => {
          e.preventDefault();
          if (ready && !busy) onConfirm();
        }}
        className="space-y-4 p-5"
      >
        <h2 id={titleId} className="text-lg font-semibold">
          {title}
        </h2>
        <div className="space-y-3 text-sm text-slate-700">{children}</div>
        <CommandBlock command={command} />
        {typeToConfirm && (
          <label className="block text-sm">
            <span className="text-slate-700">
              Type <strong className="font-mono">{typeToConfirm}</strong> to confirm
            </span>
            <input
              autoFocus
              value={typed}
              onChange={(e) => setTyped(e.target.value)}
              aria-label={`Type ${typeToConfirm} to confirm`}
              autoComplete="off"
              spellCheck={false}
              className="mt-1 block w-full rounded-md border border-slate-300 px-3 py-1.5 font-mono text-sm focus:border-blue-600 focus:outline-none"
            />
          </label>
        )}
        {error && (
          <p role="alert" className="rounded-md border border-red-300 bg-red-50 px-3 py-2 text-sm text-red-900">
            {error}
          </p>
        )}
        <div className="flex justify-end gap-2">
          <Button variant="secondary" onClick={onCancel} disabled={busy}>
            Cancel
          </Button>
          <Button type="submit" variant={danger ? "danger" : "primary"} disabled={!ready || busy}>
            {busy ? "Working…" : confirmLabel}
          </Button>
        </div>
      </form>
    </dialog>
  );
}
