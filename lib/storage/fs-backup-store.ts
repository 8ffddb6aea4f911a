import { createReadStream, createWriteStream, promises as fsp } from "node:fs";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { pipeline } from "node:stream/promises";
import { Transform, type Readable } from "node:stream";
import type { BackupStore, ListOptions, ListPage, StoredObject } from "./backup-store";
import { commitFile } from "./durable-file";
import { NotFoundError, StorageError, checkObjectKey } from "./errors";

/**
 * BackupStore over a local directory (a mounted NAS, a USB disk). Keys are relative paths below
 * `root`. Writes go to a temporary file that is put in place durably once complete (commitFile).
 */
export class FsBackupStore implements BackupStore {
  readonly description: string;
  constructor(private readonly root: string) {
    this.root = path.resolve(root);
    this.description = `directory ${this.root}`;
  }

  private file(key: string): string {
    const p = path.resolve(this.root, checkObjectKey(key));
    if (key === "" || (p !== this.root && !p.startsWith(this.root + path.sep))) {
      throw new StorageError(`fs: key ${JSON.stringify(key)} points outside ${this.root}`);
    }
    return p;
  }

  /** Every object's key under `dir` (names only: a page stats only its own files). */
  private async walk(dir: string, out: string[]): Promise<void> {
    let entries;
    try {
      entries = await fsp.readdir(dir, { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT" && dir !== this.root) return;
      throw err;
    }
    for (const e of entries) {
      const full = path.join(dir, e.name);
      if (e.isDirectory()) await this.walk(full, out);
      else if (e.isFile() && !e.name.startsWith(".lifeboat-tmp-")) out.push(path.relative(this.root, full).split(path.sep).join("/"));
    }
  }

  async list(options: ListOptions = {}): Promise<ListPage> {
    const all: string[] = [];
    try {
      await this.walk(this.root, all);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new StorageError(
        `fs: list ${this.description}: ${code === "ENOENT" ? "the directory does not exist" : String(err)}`,
        code === "ENOENT" ? "no_bucket" : "other",
        { cause: err },
      );
    }
    const prefix = options.prefix ?? "";
    const sorted = all.filter((k) => k.startsWith(prefix)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const bound = [options.cursor, options.startAfter]
      .filter((x): x is string => x !== undefined)
      .sort()
      .pop();
    const after = bound !== undefined ? sorted.findIndex((k) => k > bound) : 0;
    let next = after < 0 ? sorted.length : after;
    const size = options.pageSize ?? 1000;
    // Only this page's files are stat'ed (a few at a time): stat'ing every file for every page made a
    // listing of n objects cost n²/1000 stats (the log's 8,640 segments of a day: ~78,000 a listing).
    const objects: StoredObject[] = [];
    while (objects.length < size && next < sorted.length) {
      const batch = sorted.slice(next, next + Math.min(64, size - objects.length));
      next += batch.length;
      const stats = await Promise.all(
        batch.map((key) =>
          // Deleted since readdir (retention, the log's compaction): not in the store any more, not a failed listing.
          fsp.stat(path.join(this.root, ...key.split("/"))).catch((err: NodeJS.ErrnoException) => {
            if (err.code === "ENOENT") return null;
            throw err;
          }),
        ),
      );
      for (const [i, st] of stats.entries()) if (st) objects.push({ key: batch[i], size: st.size, lastModified: st.mtime });
    }
    const more = next < sorted.length;
    return { objects, nextCursor: more ? sorted[next - 1] : undefined };
  }

  async head(key: string): Promise<StoredObject> {
    const file = this.file(key);
    try {
      const st = await fsp.stat(file);
      if (!st.isFile()) throw Object.assign(new Error("not a file"), { code: "ENOENT" });
      return { key, size: st.size, lastModified: st.mtime };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") throw new NotFoundError(`fs: no object ${key} in ${this.description}`, { cause: err });
      throw new StorageError(`fs: head ${key}: ${String(err)}`, "other", { cause: err });
    }
  }

  async get(key: string): Promise<Readable> {
    await this.head(key);
    return createReadStream(this.file(key));
  }

  async put(key: string, body: Readable, options: { onProgress?: (bytes: number) => void } = {}): Promise<void> {
    const dest = this.file(key);
    await fsp.mkdir(path.dirname(dest), { recursive: true });
    const tmp = path.join(path.dirname(dest), `.lifeboat-tmp-${randomBytes(6).toString("hex")}`);
    let bytes = 0;
    const count = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        bytes += chunk.length;
        options.onProgress?.(bytes);
        cb(null, chunk);
      },
    });
    try {
      await pipeline(body, count, createWriteStream(tmp, { flags: "wx", mode: 0o600 }));
      await commitFile(tmp, dest);
    } catch (err) {
      await fsp.rm(tmp, { force: true });
      throw new StorageError(`fs: put ${key} in ${this.description}: ${(err as Error).message}`, "other", { cause: err });
    }
  }

  async delete(key: string): Promise<void> {
    await fsp.rm(this.file(key), { force: true });
  }
}
