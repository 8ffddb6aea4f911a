import { createReadStream, promises as fsp } from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
// The two encoders only (subpath exports): the package root also loads the whole of node-tar (its
// streams, zlib and file-system code, ~85 kB of bundle), which a backup never uses (docs/benchmarks.md).
import { Header } from "tar/header";
import { Pax } from "tar/pax";

/**
 * A streaming tar writer for the backup archives. node-tar's Pack names entries after the files it
 * reads, but the server archive's `db/state.db` must come from the verified snapshot in the staging
 * directory (never the live file), and every entry must say owner 0:0 whoever owns the file now (the
 * incident's database was owned by pi:pi). So the entries are listed here and only the header
 * encoding is node-tar's.
 */
export interface TarEntry {
  /** Path inside the archive, relative ("db/state.db", "tls/server-ca.crt"); directories end without "/". */
  name: string;
  type: "file" | "dir";
  /** Where the bytes come from (files only). */
  source?: string;
  /** Permission bits, preserved from the source. */
  mode: number;
  size: number;
  mtime: Date;
}

/** Entries of `rel` below `root` (a file, or a directory walked recursively), plus what was skipped. */
export async function collectEntries(root: string, rel: string, out: TarEntry[], skipped: string[]): Promise<void> {
  const full = path.join(root, rel);
  const st = await fsp.lstat(full).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") return null;
    throw err;
  });
  if (!st) return;
  if (st.isFile()) {
    out.push({ name: rel, type: "file", source: full, mode: st.mode & 0o7777, size: st.size, mtime: st.mtime });
  } else if (st.isDirectory()) {
    out.push({ name: rel, type: "dir", mode: st.mode & 0o7777, size: 0, mtime: st.mtime });
    const names = (await fsp.readdir(full)).sort();
    for (const n of names) await collectEntries(root, path.posix.join(rel, n), out, skipped);
  } else {
    // Symlinks, sockets, devices: a restore must never create them (a symlink could point anywhere).
    skipped.push(rel);
  }
}

/** The header block(s) of one entry: a PAX extended header first when the name needs one. */
export function tarHeader(e: TarEntry): Buffer {
  return Buffer.concat(headerBlocks(e));
}

/** Zero bytes that round a file's content up to the next 512-byte block. */
export function tarPadding(size: number): Buffer {
  return Buffer.alloc((512 - (size % 512)) % 512);
}

/** The end of a tar archive: two zero blocks. */
export const TAR_END = Buffer.alloc(1024);

function headerBlocks(e: TarEntry): Buffer[] {
  const data = {
    path: e.type === "dir" ? `${e.name}/` : e.name,
    mode: e.mode,
    uid: 0,
    gid: 0,
    uname: "root",
    gname: "root",
    size: e.type === "file" ? e.size : 0,
    mtime: e.mtime,
    type: e.type === "file" ? ("File" as const) : ("Directory" as const),
  };
  const h = new Header(data);
  const needPax = h.encode();
  const blocks: Buffer[] = [];
  // Long names (over 100 bytes) go in a PAX extended header, which GNU tar and node-tar both read.
  if (needPax) blocks.push(new Pax({ path: data.path, size: data.size, mtime: data.mtime, uid: 0, gid: 0 }).encode());
  blocks.push(h.block!);
  return blocks;
}

/** Thrown when a file changes size while it is archived (the archive would be inconsistent). */
export class FileChangedError extends Error {
  constructor(file: string, expected: number, got: number) {
    super(`${file} changed while it was archived (expected ${expected} bytes, read ${got}); run the backup again.`);
    this.name = "FileChangedError";
  }
}

/**
 * The tar archive of `entries` as a byte stream (ustar + PAX, ending in two zero blocks unless
 * `end: false`). File contents stream from disk in 1 MiB chunks; `onBytes` gets the running count of
 * file bytes read.
 * Memory stays bounded whatever the file sizes.
 */
export function tarStream(entries: TarEntry[], opts: { onBytes?: (fileBytes: number) => void; end?: boolean } = {}): Readable {
  const onBytes = opts.onBytes;
  async function* generate(): AsyncGenerator<Buffer> {
    let done = 0;
    for (const e of entries) {
      yield* headerBlocks(e);
      if (e.type !== "file" || e.size === 0) continue;
      let read = 0;
      const src = createReadStream(e.source!, { start: 0, end: e.size - 1, highWaterMark: 1 << 20 });
      for await (const chunk of src as AsyncIterable<Buffer>) {
        read += chunk.length;
        done += chunk.length;
        onBytes?.(done);
        yield chunk;
      }
      if (read !== e.size) throw new FileChangedError(e.source!, e.size, read);
      const pad = tarPadding(e.size);
      if (pad.length) yield pad;
    }
    if (opts.end !== false) yield TAR_END;
  }
  return Readable.from(generate(), { objectMode: false });
}
