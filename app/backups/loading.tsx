/** Shown while the first listing of the store is read (later loads come from the cache). */
export default function Loading() {
  return (
    <div className="space-y-5" aria-busy="true" aria-label="Loading backups">
      <div className="h-8 w-48 animate-pulse rounded bg-slate-200" />
      <div className="h-24 animate-pulse rounded-lg bg-slate-100" />
      <div className="h-72 animate-pulse rounded-lg bg-slate-100" />
      <div className="h-96 animate-pulse rounded-lg bg-slate-100" />
    </div>
  );
}
