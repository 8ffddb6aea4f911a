import "server-only";
import type { Db } from "../db/database";

/** One cached object of a store's listing. */
export interface CachedObject {
  key: string;
  size: number;
  /** ISO time. */
  lastModified: string;
}

export interface SourceState {
  refreshedAt: string | null;
  attemptedAt: string | null;
  objectCount: number;
  error: { failure: string; message: string; at: string } | null;
}

export interface DiffResult {
  added: number;
  changed: number;
  removed: number;
}

/**
 * The catalog's rows in the dashboard's SQLite, per source (a store's description), so page loads
 * never re-list the bucket and the last good listing survives restarts and S3 outages.
 */
export class CatalogCache {
  constructor(
    private readonly db: Db,
    readonly source: string,
  ) {}

  /** Every cached object of this source. */
  objects(): CachedObject[] {
    return this.db
      .prepare("SELECT key, size, last_modified AS lastModified FROM catalog_objects WHERE source = ? ORDER BY key")
      .all(this.source) as CachedObject[];
  }

  /**
   * Makes the cache equal to `listing` by writing only the differences (one transaction), given
   * `current` — the cache's content as the caller last read it. `covers` says which keys the listing
   * spoke for (default all: a full listing); a covered key missing from it is removed, others stay.
   * Only a finished listing is applied (it marks the source refreshed): a listing that failed part
   * way is not the store's state.
   */
  apply(
    listing: readonly CachedObject[],
    current: ReadonlyMap<string, CachedObject>,
    at: string,
    opts: { covers?: (key: string) => boolean } = {},
  ): DiffResult {
    const upsert = this.db.prepare(
      `INSERT INTO catalog_objects (source, key, size, last_modified) VALUES (?, ?, ?, ?)
       ON CONFLICT (source, key) DO UPDATE SET size = excluded.size, last_modified = excluded.last_modified`,
    );
    const del = this.db.prepare("DELETE FROM catalog_objects WHERE source = ? AND key = ?");
    const result: DiffResult = { added: 0, changed: 0, removed: 0 };
    this.db.transaction(() => {
      const seen = new Set<string>();
      for (const o of listing) {
        seen.add(o.key);
        const had = current.get(o.key);
        if (had && had.size === o.size && had.lastModified === o.lastModified) continue;
        upsert.run(this.source, o.key, o.size, o.lastModified);
        if (had) result.changed++;
        else result.added++;
      }
      for (const key of current.keys()) {
        if (seen.has(key) || (opts.covers && !opts.covers(key))) continue;
        del.run(this.source, key);
        result.removed++;
      }
      const count = this.db.prepare("SELECT COUNT(*) FROM catalog_objects WHERE source = ?").pluck().get(this.source) as number;
      this.db
        .prepare(
          `INSERT INTO catalog_sources (source, refreshed_at, attempted_at, object_count, error_failure, error_message, error_at)
           VALUES (?, ?, ?, ?, NULL, NULL, NULL)
           ON CONFLICT (source) DO UPDATE SET refreshed_at = excluded.refreshed_at, attempted_at = excluded.attempted_at,
             object_count = excluded.object_count, error_failure = NULL, error_message = NULL, error_at = NULL`,
        )
        .run(this.source, at, at, count);
    })();
    return result;
  }

  /** Records a failed refresh; the cached listing stays as it was. */
  recordFailure(failure: string, message: string, at: string): void {
    this.db
      .prepare(
        `INSERT INTO catalog_sources (source, attempted_at, error_failure, error_message, error_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (source) DO UPDATE SET attempted_at = excluded.attempted_at, error_failure = excluded.error_failure,
           error_message = excluded.error_message, error_at = excluded.error_at`,
      )
      .run(this.source, at, failure, message, at);
  }

  state(): SourceState {
    const row = this.db
      .prepare("SELECT refreshed_at, attempted_at, object_count, error_failure, error_message, error_at FROM catalog_sources WHERE source = ?")
      .get(this.source) as
      | {
          refreshed_at: string | null;
          attempted_at: string | null;
          object_count: number;
          error_failure: string | null;
          error_message: string | null;
          error_at: string | null;
        }
      | undefined;
    if (!row) return { refreshedAt: null, attemptedAt: null, objectCount: 0, error: null };
    return {
      refreshedAt: row.refreshed_at,
      attemptedAt: row.attempted_at,
      objectCount: row.object_count,
      error: row.error_failure ? { failure: row.error_failure, message: row.error_message ?? "", at: row.error_at ?? row.attempted_at ?? "" } : null,
    };
  }

  /** A manifest body fetched earlier, if the object has not changed since. */
  manifest(key: string, size: number, lastModified: string): string | null {
    const row = this.db
      .prepare("SELECT body FROM catalog_manifests WHERE source = ? AND key = ? AND size = ? AND last_modified = ?")
      .get(this.source, key, size, lastModified) as { body: string } | undefined;
    return row?.body ?? null;
  }

  saveManifest(key: string, size: number, lastModified: string, body: string): void {
    this.db
      .prepare(
        `INSERT INTO catalog_manifests (source, key, size, last_modified, body) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (source, key) DO UPDATE SET size = excluded.size, last_modified = excluded.last_modified, body = excluded.body`,
      )
      .run(this.source, key, size, lastModified, body);
  }
}
