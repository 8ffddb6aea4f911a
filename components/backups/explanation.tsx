import type { ReactNode } from "react";
import Link from "next/link";
import { Badge, type Tone } from "@/components/ui/badge";
import { formatBytes, formatNumber } from "@/components/ui/format";
import type { Explanation, ExplanationCause } from "@/lib/contracts/set-statistics";
import { explanationFirstLine } from "@/lib/backups/explain";

const KIND_LABELS: Record<ExplanationCause["kind"], [string, Tone]> = {
  "compaction-stalled": ["Compaction stalled", "critical"],
  "prefix-growth": ["Key prefix grew", "warning"],
  "dead-rows": ["Dead rows", "warning"],
  freelist: ["Free pages", "info"],
  "normal-growth": ["Normal growth", "ok"],
  unknown: ["Unknown", "neutral"],
};

/** Text with `commands` in backticks, drawn as code. */
function Words({ text }: { text: string }) {
  const parts = text.split("`");
  return (
    <>
      {parts.map((p, i) =>
        i % 2 ? (
          <code key={i} className="whitespace-pre-wrap rounded bg-slate-100 px-1 py-0.5 font-mono text-xs text-slate-800">
            {p}
          </code>
        ) : (
          p
        ),
      )}
    </>
  );
}

const signed = (n: number, f: (n: number) => string) => (n > 0 ? `+${f(n)}` : n < 0 ? `−${f(-n)}` : "0");

function Cause({ cause, rank }: { cause: ExplanationCause; rank: number }) {
  const [label, tone] = KIND_LABELS[cause.kind];
  // "What to do" gets its own paragraph: it is the part a person acts on.
  const [finding, todo] = cause.text.split(/ (?=What to do: )/);
  return (
    <li className="flex gap-3 text-sm" data-testid="explanation-cause" data-kind={cause.kind}>
      <span className="mt-0.5 w-5 shrink-0 text-right font-semibold tabular-nums text-slate-400">{rank}.</span>
      <div className="min-w-0 space-y-1">
        <p className="flex flex-wrap items-center gap-2">
          <Badge tone={tone}>{label}</Badge>
          {cause.prefix && <span className="font-mono text-xs text-slate-700">{cause.prefix}</span>}
          {/* Prefix growth states its numbers in its text; the others' deltas are worth a glance here. */}
          {cause.kind !== "prefix-growth" && cause.rowsDelta !== undefined && (
            <span className="tabular-nums text-slate-600">
              {signed(cause.rowsDelta, formatNumber)} {cause.kind === "compaction-stalled" || cause.kind === "dead-rows" ? "dead rows" : "rows"}
            </span>
          )}
          {cause.kind !== "prefix-growth" && cause.bytesDelta !== undefined && (
            <span className="tabular-nums text-slate-600">
              {cause.kind === "freelist" ? "free pages" : "database file"} {signed(cause.bytesDelta, formatBytes)}
            </span>
          )}
        </p>
        <p className="text-slate-700">
          <Words text={finding} />
        </p>
        {todo && (
          <p className="rounded-md bg-slate-50 px-3 py-2 text-slate-700">
            <Words text={todo} />
          </p>
        )}
      </div>
    </li>
  );
}

/**
 * Why a flagged set is the size it is: the verdict, then the causes ranked with what to do about
 * each; the baseline it was compared with links to its page. `action` is offered beside an
 * `unknown` cause (Verify now, when a drill would read the missing statistics).
 */
export function ExplanationView({ explanation, action }: { explanation: Explanation; action?: ReactNode }) {
  const first = explanationFirstLine(explanation);
  const rest = explanation.verdict.slice(first.length).trim();
  return (
    <div className="space-y-4" data-testid="explanation">
      <div>
        <p className="text-base font-semibold text-slate-900" data-testid="explanation-verdict">
          {first}
        </p>
        {rest && <p className="mt-0.5 text-sm text-slate-600">{rest}</p>}
        <p className="mt-1 text-xs text-slate-500">
          {explanation.baselineSetId ? (
            <>
              Compared with{" "}
              <Link href={`/backups/${explanation.baselineSetId}`} className="font-mono text-blue-800 hover:underline">
                {explanation.baselineSetId}
              </Link>
              , the newest set of this series without flags.
            </>
          ) : (
            "No older set of this series without flags to compare with."
          )}
        </p>
      </div>
      <ol className="space-y-3">
        {explanation.causes.map((c, i) => (
          <Cause key={i} cause={c} rank={i + 1} />
        ))}
      </ol>
      {action && explanation.causes.some((c) => c.kind === "unknown") && <div className="flex justify-end">{action}</div>}
    </div>
  );
}

/** The explanation's first line, compact, for the history table and the Recent flags card. */
export function ExplanationLine({ line }: { line: string | undefined }) {
  if (!line) return null;
  return (
    <p className="mt-1 max-w-md text-xs leading-snug text-slate-600" data-testid="explanation-line" title={line}>
      <span aria-hidden className="mr-1 text-slate-400">
        ↳
      </span>
      {line}
    </p>
  );
}
