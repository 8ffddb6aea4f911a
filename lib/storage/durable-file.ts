import { closeSync, constants as fsc, fsyncSync, openSync, promises as fsp, readdirSync, renameSync, rmSync, writeSync } from "node:fs";
import path from "node:path";
import { randomBytes } from "node:crypto";

/**
 * Durable writes, the one way Lifeboat replaces a file (litestream's order): write a temporary file
 * beside it, fsync it, rename it over the target, fsync the directory. A reader sees the old file or
 * the new one, never a torn one; after the directory's fsync a power cut keeps the new one.
 */

export interface DurableWriteOptions {
  /** Mode of a new file (default 0600). */
  mode?: number;
  /**
   * Skip both fsyncs (default true: do them). The rename still makes every write whole, but a power
   * cut may bring back the previous version: only for records that need not survive one.
   */
  fsync?: boolean;
}

/** fsyncs a file or directory (a directory's fsync makes the renames and new names inside it durable). Throws on I/O errors. */
export function fsyncPath(p: string): void {
  const fd = openSync(p, fsc.O_RDONLY | (fsc.O_NOFOLLOW ?? 0));
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * fsyncs `root` and every directory below it (symlinks not followed): the names of everything in
 * that tree become durable (the files' contents need their own fsync). Throws on I/O errors.
 */
export function fsyncDirectories(root: string): void {
  for (const e of readdirSync(root, { withFileTypes: true })) if (e.isDirectory()) fsyncDirectories(path.join(root, e.name));
  fsyncPath(root);
}

/** fsyncs a file or directory without blocking the event loop (a large file's fsync can take a while). Rejects on I/O errors. */
export async function fsyncPathAsync(p: string): Promise<void> {
  const fh = await fsp.open(p, fsc.O_RDONLY | (fsc.O_NOFOLLOW ?? 0));
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** A temporary name beside `file`, unique to this write, starting with "." so listings can skip it. */
export function tempPathFor(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.tmp-${randomBytes(4).toString("hex")}`);
}

/**
 * Replaces `file` with `data` atomically and (unless `fsync: false`) durably. Throws on I/O errors,
 * after removing its temporary file; `file` is then unchanged.
 */
export function writeFileDurable(file: string, data: string | Uint8Array, opts: DurableWriteOptions = {}): void {
  const tmp = tempPathFor(file);
  const durable = opts.fsync ?? true;
  try {
    const fd = openSync(tmp, "wx", opts.mode ?? 0o600);
    try {
      const buf = typeof data === "string" ? Buffer.from(data) : data;
      for (let off = 0; off < buf.length;) off += writeSync(fd, buf, off, buf.length - off);
      if (durable) fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  if (durable) fsyncPath(path.dirname(file));
}

/**
 * Puts a finished temporary file in place: fsync it, rename it to `file`, fsync the directory (the
 * second half of writeFileDurable, for files written as streams). Rejects on I/O errors, after
 * removing `tmp`.
 */
export async function commitFile(tmp: string, file: string, opts: Pick<DurableWriteOptions, "fsync"> = {}): Promise<void> {
  const durable = opts.fsync ?? true;
  try {
    if (durable) await fsyncPathAsync(tmp);
    await fsp.rename(tmp, file);
  } catch (err) {
    await fsp.rm(tmp, { force: true });
    throw err;
  }
  if (durable) await fsyncPathAsync(path.dirname(file));
}
