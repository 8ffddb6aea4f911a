"use client";

import type { DrainChoice, DrainOptions } from "@/lib/contracts/nodes";

/** The drain's choices: emptyDir data, unmanaged pods, timeout — each with the pods it concerns. */
export function DrainOptionsForm({ value, onChange, choices }: { value: DrainOptions; onChange: (v: DrainOptions) => void; choices: DrainChoice[] }) {
  const emptyDir = choices.filter((c) => c.reason === "emptyDir");
  const unmanaged = choices.filter((c) => c.reason === "unmanaged");
  return (
    <fieldset className="space-y-3 text-sm">
      <legend className="sr-only">Drain options</legend>
      {emptyDir.length > 0 && (
        <label className="flex items-start gap-2 rounded-md border border-amber-300 bg-amber-50 p-3">
          <input
            type="checkbox"
            className="mt-0.5"
            checked={value.deleteEmptyDirData}
            onChange={(e) => onChange({ ...value, deleteEmptyDirData: e.target.checked })}
          />
          <span>
            <span className="font-medium">Delete emptyDir data</span> <code className="text-xs">--delete-emptydir-data</code>
            <span className="block text-slate-700">
              The scratch data of {emptyDir.map((c) => c.name).join(", ")} is lost when {emptyDir.length === 1 ? "it is" : "they are"} evicted.
            </span>
          </span>
        </label>
      )}
      {unmanaged.length > 0 && (
        <label className="flex items-start gap-2 rounded-md border border-amber-300 bg-amber-50 p-3">
          <input type="checkbox" className="mt-0.5" checked={value.force} onChange={(e) => onChange({ ...value, force: e.target.checked })} />
          <span>
            <span className="font-medium">Evict pods that no controller manages</span> <code className="text-xs">--force</code>
            <span className="block text-slate-700">{unmanaged.map((c) => c.name).join(", ")} will not be recreated anywhere.</span>
          </span>
        </label>
      )}
      <label className="flex items-center gap-2">
        <span className="text-slate-700">Give up after</span>
        <input
          type="number"
          min={5}
          max={3600}
          value={value.timeoutSeconds}
          onChange={(e) => onChange({ ...value, timeoutSeconds: Math.max(5, Math.min(3600, Number(e.target.value) || 300)) })}
          aria-label="Drain timeout in seconds"
          className="w-24 rounded-md border border-slate-300 px-2 py-1 tabular-nums"
        />
        <span className="text-slate-700">seconds</span>
      </label>
    </fieldset>
  );
}
