import type { ReactNode } from "react";
import { Banner } from "@/components/ui/banner";
import { Button } from "@/components/ui/button";
import type { WizardStepInfo } from "./types";

/**
 * The frame both wizards share: the step list on the side (done / current / to come), one step's
 * content at a time on the right.
 */
export function WizardLayout({
  title,
  steps,
  current,
  completed,
  children,
}: {
  title: string;
  steps: WizardStepInfo[];
  current: string;
  completed: string[];
  children: ReactNode;
}) {
  const currentIndex = steps.findIndex((s) => s.id === current);
  return (
    <div className="grid gap-6 md:grid-cols-[220px_1fr]">
      <nav aria-label={`${title} steps`} className="md:sticky md:top-4 md:self-start">
        <ol className="space-y-1">
          {steps.map((s, i) => {
            const isCurrent = s.id === current;
            const isDone = completed.includes(s.id) && !isCurrent;
            return (
              <li
                key={s.id}
                aria-current={isCurrent ? "step" : undefined}
                data-state={isCurrent ? "current" : isDone ? "done" : "todo"}
                className={`flex items-center gap-3 rounded-md px-3 py-2 text-sm ${isCurrent ? "bg-blue-50 font-semibold text-blue-900" : isDone ? "text-slate-700" : "text-slate-400"}`}
              >
                <span
                  className={`flex h-6 w-6 shrink-0 items-center justify-center rounded-full text-xs ${isCurrent ? "bg-blue-700 text-white" : isDone ? "bg-emerald-600 text-white" : "bg-slate-200 text-slate-600"}`}
                >
                  {isDone ? "✓" : i + 1}
                </span>
                {s.label}
              </li>
            );
          })}
        </ol>
        <p className="mt-3 px-3 text-xs text-slate-500">
          Step {currentIndex + 1} of {steps.length}. Progress is saved: you can reload or come back later.
        </p>
      </nav>
      <section aria-label={steps[currentIndex]?.label ?? title} className="min-w-0">
        {children}
      </section>
    </div>
  );
}

/** The steps a run has finished: all of them once it is done, else those before its current step. */
export function completedSteps(steps: WizardStepInfo[], view: { step: string; status: string }): string[] {
  if (view.status === "done") return steps.map((s) => s.id);
  return steps
    .slice(
      0,
      steps.findIndex((s) => s.id === view.step),
    )
    .map((s) => s.id);
}

/** While a run's state loads: "Loading…", or why it cannot be loaded with a way to start over. */
export function RunLoading({ what, error, onStartOver }: { what: string; error: unknown; onStartOver: () => void }) {
  if (!error) return <p className="text-sm text-slate-500">Loading…</p>;
  return (
    <Banner tone="error" title={`Cannot load this ${what}`} actions={<Button onClick={onStartOver}>Start over</Button>}>
      {error instanceof Error ? error.message : String(error)}
    </Banner>
  );
}
