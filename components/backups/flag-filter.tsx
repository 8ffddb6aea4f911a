import Link from "next/link";
import type { CatalogFilter } from "@/lib/contracts/catalog";

const FILTERS: { value: CatalogFilter; label: string }[] = [
  { value: "all", label: "All" },
  { value: "flagged", label: "Flagged" },
  { value: "critical", label: "Critical" },
  { value: "warning", label: "Warning" },
  { value: "growth", label: "Growth" },
  { value: "shrink", label: "Shrink" },
  { value: "gap", label: "Gap" },
  { value: "stale", label: "Stale" },
  { value: "incomplete", label: "Incomplete" },
];

/** The history's filter: links (no script needed), each with how many sets it holds. */
export function FlagFilter({ active, counts }: { active: CatalogFilter; counts: Record<CatalogFilter, number> }) {
  return (
    <nav aria-label="Filter backups" className="flex flex-wrap gap-1 text-sm">
      {FILTERS.filter((f) => f.value === "all" || f.value === "flagged" || counts[f.value] > 0 || f.value === active).map((f) => (
        <Link
          key={f.value}
          href={f.value === "all" ? "/backups" : `/backups?flag=${f.value}`}
          aria-current={f.value === active ? "page" : undefined}
          className={`rounded-full px-3 py-1 ring-1 ring-inset ${
            f.value === active ? "bg-slate-800 text-white ring-slate-800" : "bg-white text-slate-700 ring-slate-300 hover:bg-slate-100"
          }`}
        >
          {f.label} <span className={f.value === active ? "text-slate-300" : "text-slate-500"}>{counts[f.value].toLocaleString("en-US")}</span>
        </Link>
      ))}
    </nav>
  );
}
