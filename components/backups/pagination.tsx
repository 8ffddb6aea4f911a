import Link from "next/link";

/** "1–50 of 10,000" with previous/next links that keep the filter. */
export function Pagination({ page, pageSize, total, flag }: { page: number; pageSize: number; total: number; flag: string }) {
  const pages = Math.max(1, Math.ceil(total / pageSize));
  const href = (p: number) => {
    const q = new URLSearchParams();
    if (flag !== "all") q.set("flag", flag);
    if (p > 1) q.set("page", String(p));
    const s = q.toString();
    return s ? `/backups?${s}` : "/backups";
  };
  const from = total ? (page - 1) * pageSize + 1 : 0;
  const to = Math.min(total, page * pageSize);
  const link = "rounded-md px-3 py-1.5 ring-1 ring-inset ring-slate-300 hover:bg-slate-100";
  return (
    <nav aria-label="Pages" className="mt-4 flex items-center justify-between gap-4 text-sm text-slate-600">
      <span>
        {from.toLocaleString("en-US")}–{to.toLocaleString("en-US")} of {total.toLocaleString("en-US")}
      </span>
      <span className="flex items-center gap-2">
        {page > 1 ? (
          <Link className={link} href={href(page - 1)} rel="prev">
            ← Newer
          </Link>
        ) : null}
        <span>
          Page {page} of {pages}
        </span>
        {page < pages ? (
          <Link className={link} href={href(page + 1)} rel="next">
            Older →
          </Link>
        ) : null}
      </span>
    </nav>
  );
}
