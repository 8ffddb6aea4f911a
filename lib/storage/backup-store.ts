import type { Readable } from "node:stream";

/** One object in a backup store. `key` is relative to the store's prefix. */
export interface StoredObject {
  key: string;
  size: number;
  lastModified: Date;
}

export interface ListPage {
  objects: StoredObject[];
  /** Pass back as `cursor` to get the next page; absent on the last page. */
  nextCursor?: string;
}

export interface ListOptions {
  /** Only keys starting with this (relative to the store's prefix). */
  prefix?: string;
  /** Continue after a previous page. */
  cursor?: string;
  /**
   * Only keys that sort after this one (relative to the store's prefix, like `prefix`; S3's
   * StartAfter). The catalog's incremental refresh lists only what is newer than it knows.
   */
  startAfter?: string;
  /** Upper bound on objects in this page (S3 caps it at 1000). */
  pageSize?: number;
}

/**
 * Where backups live. One small interface per external system (litestream style): every
 * implementation translates provider errors at the boundary.
 *
 * Errors: methods reject with `NotFoundError` when a key (or for `list`, the bucket) is missing,
 * and with `StorageError` (with a `failure` category) for anything else.
 */
export interface BackupStore {
  /** Human-readable location for messages, e.g. `s3://bucket/prefix at http://host:port`. No secrets. */
  readonly description: string;
  /** One page of objects, in key order. */
  list(options?: ListOptions): Promise<ListPage>;
  /** Size and date of one object. Rejects with NotFoundError when missing. */
  head(key: string): Promise<StoredObject>;
  /** The object's bytes as a stream. Rejects with NotFoundError when missing. */
  get(key: string): Promise<Readable>;
  /**
   * Stores a stream under `key`, replacing any object there. The object becomes visible only when
   * the whole stream has been stored; a stream that errors leaves no object behind.
   */
  put(key: string, body: Readable, options?: { contentType?: string; onProgress?: (bytes: number) => void }): Promise<void>;
  /** Removes an object. Resolves even when it was already missing. */
  delete(key: string): Promise<void>;
}

/** Every object under the store's prefix, page by page. */
export async function* listAll(store: BackupStore, options: Omit<ListOptions, "cursor"> = {}): AsyncGenerator<StoredObject> {
  let cursor: string | undefined;
  do {
    const page = await store.list({ ...options, cursor });
    yield* page.objects;
    cursor = page.nextCursor;
  } while (cursor);
}
