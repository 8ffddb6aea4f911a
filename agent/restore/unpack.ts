import { promises as fsp } from "node:fs";
import path from "node:path";

/**
 * A strict, streaming tar reader for restores. It accepts only what Lifeboat's and the seed job's
 * archives contain: regular files and directories with relative paths on an allowlist. It refuses,
 * before writing a byte of the entry: absolute paths, `..`, symlinks, hard links, devices, FIFOs,
 * sparse files (GNU 'S' entries and PAX GNU.sparse.* records), paths the layout does not expect,
 * duplicates, directories that carry data, and sizes above the limit (checked against the size the
 * header declares, so a 10 GB sparse bomb is refused from its header alone; the caller also counts
 * every byte that reaches this reader). It stops at the end-of-archive marker: after it only the
 * zero padding of the last tar record may follow (at most MAX_TRAILING_ZEROS), anything else is an
 * error rather than more input to read. Files are created with O_EXCL below `root` only.
 *
 * node-tar's extractor follows its own rules (it skips devices, strips absolute paths and warns);
 * a restore must instead fail loudly on anything unexpected, so this reads the format itself:
 * 512-byte ustar/GNU headers, PAX extended headers ('x') and GNU long names ('L').
 */

/** The archive holds something a restore must never write; nothing outside staging was touched. */
export class UnsafeArchiveError extends Error {
  constructor(
    message: string,
    /** Refused for its size alone (LIFEBOAT_RESTORE_MAX_BYTES). */
    readonly tooLarge = false,
  ) {
    super(message);
    this.name = "UnsafeArchiveError";
  }
}

/** The archive is not a complete tar archive (cut short, or not tar at all). */
export class BadTarError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "BadTarError";
  }
}

export interface ExtractedEntry {
  /** Path as written in the archive, normalised (no leading "./"). */
  archivePath: string;
  /** Where it went, relative to `root`. */
  target: string;
  type: "file" | "dir";
  size: number;
  mode: number;
}

export interface ExtractOptions {
  /** The staging directory; nothing is ever written outside it. */
  root: string;
  /**
   * Where an entry goes, relative to `root`: returns the target path, `null` to skip a harmless entry
   * (the archive's own root "."), or throws UnsafeArchiveError for anything the layout does not expect.
   */
  place(archivePath: string, type: "file" | "dir"): string | null;
  /** Largest total of declared file sizes (the caller counts the bytes themselves as well). */
  maxBytes: number;
  maxEntries?: number;
  /** fsync each file (default true). */
  durable?: boolean;
  onBytes?(done: number): void;
}

const TYPE_NAMES: Record<string, string> = {
  "1": "a hard link",
  "2": "a symbolic link",
  "3": "a character device",
  "4": "a block device",
  "6": "a FIFO",
  S: "a GNU sparse file",
  K: "a link (long link name)",
  V: "a tape volume header",
  M: "a multi-volume continuation",
  D: "a GNU dump directory",
};

/**
 * What may follow the end-of-archive marker: tar writes whole records (GNU tar: 20 blocks, 10 KiB;
 * `-b 2048` gives 1 MiB), zero-filled after the two zero blocks.
 */
const MAX_TRAILING_ZEROS = 1 << 20;

/** Pulls exact byte counts out of a chunked stream. */
class ByteSource {
  private buf: Buffer = Buffer.alloc(0);
  private readonly it: AsyncIterator<Buffer>;
  private ended = false;
  constructor(stream: AsyncIterable<Buffer>) {
    this.it = stream[Symbol.asyncIterator]();
  }
  private async fill(min: number): Promise<boolean> {
    while (this.buf.length < min && !this.ended) {
      const r = await this.it.next();
      if (r.done) this.ended = true;
      else this.buf = this.buf.length ? Buffer.concat([this.buf, r.value]) : Buffer.from(r.value);
    }
    return this.buf.length >= min;
  }
  /** Exactly `n` bytes, or null at a clean end of input (no bytes at all). Throws when cut short. */
  async read(n: number): Promise<Buffer | null> {
    if (!(await this.fill(n))) {
      if (this.buf.length === 0) return null;
      throw new BadTarError("The archive ends early: it stops in the middle of a tar entry.");
    }
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }
  /** Streams exactly `n` bytes to `sink` in chunks. Throws when the input ends first. */
  async pipe(n: number, sink: (chunk: Buffer) => Promise<void>): Promise<void> {
    let left = n;
    while (left > 0) {
      if (this.buf.length === 0 && !(await this.fill(1))) throw new BadTarError("The archive ends early: it stops in the middle of a file.");
      const take = Math.min(left, this.buf.length);
      const chunk = this.buf.subarray(0, take);
      this.buf = this.buf.subarray(take);
      left -= take;
      await sink(chunk);
    }
  }
  async skip(n: number): Promise<void> {
    await this.pipe(n, async () => {});
  }
  /**
   * Reads what follows the end-of-archive marker: the zero padding of the last record and then the
   * end of the input. Throws BadTarError at the first byte that is not zero, or when the padding goes
   * on for longer than any tar record.
   */
  async expectPaddingOnly(): Promise<void> {
    let seen = 0;
    for (;;) {
      if (this.buf.length === 0) {
        const r = await this.it.next();
        if (r.done) return;
        this.buf = Buffer.from(r.value);
      }
      seen += this.buf.length;
      if (this.buf.some((b) => b !== 0)) throw new BadTarError("The tar archive goes on after its end-of-archive marker: it is damaged or was altered.");
      if (seen > MAX_TRAILING_ZEROS)
        throw new BadTarError(`The tar archive goes on for more than ${MAX_TRAILING_ZEROS} bytes of zeros after its end-of-archive marker: it is damaged.`);
      this.buf = Buffer.alloc(0);
    }
  }
}

function cstring(b: Buffer, start: number, end: number): string {
  const s = b.subarray(start, end);
  const nul = s.indexOf(0);
  return (nul >= 0 ? s.subarray(0, nul) : s).toString("utf8");
}

function octal(b: Buffer, start: number, end: number): number {
  // GNU base-256 for values that do not fit in octal (sizes over 8 GiB): high bit of the first byte.
  if (b[start] & 0x80) {
    let v = b[start] & 0x7f;
    for (let i = start + 1; i < end; i++) v = v * 256 + b[i];
    return v;
  }
  const s = cstring(b, start, end).trim();
  if (s === "") return 0;
  if (!/^[0-7]+$/.test(s)) return NaN;
  return parseInt(s, 8);
}

interface RawHeader {
  name: string;
  mode: number;
  size: number;
  type: string;
}

function parseHeader(b: Buffer): RawHeader | "zero" {
  if (b.every((x) => x === 0)) return "zero";
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : b[i];
  const stored = octal(b, 148, 156);
  if (stored !== sum) throw new BadTarError("The archive is not a tar archive, or a header is damaged (checksum mismatch).");
  const magic = b.subarray(257, 263).toString("latin1");
  let name = cstring(b, 0, 100);
  // POSIX ustar keeps a prefix for long paths; GNU's "ustar  " format uses those bytes for other things.
  if (magic === "ustar\0") {
    const prefix = cstring(b, 345, 500);
    if (prefix) name = `${prefix}/${name}`;
  }
  const size = octal(b, 124, 136);
  const mode = octal(b, 100, 108);
  if (!Number.isFinite(size) || size < 0) throw new BadTarError("A tar header has an unreadable size field.");
  return { name, mode: Number.isFinite(mode) ? mode & 0o7777 : 0o600, size, type: String.fromCharCode(b[156] || 0x30) };
}

/** PAX records: "<len> <key>=<value>\n". */
function parsePax(data: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  let off = 0;
  while (off < data.length) {
    const sp = data.indexOf(0x20, off);
    if (sp < 0) break;
    const len = parseInt(data.subarray(off, sp).toString("latin1"), 10);
    if (!Number.isFinite(len) || len <= 0 || off + len > data.length) throw new BadTarError("A PAX extended header is malformed.");
    const rec = data.subarray(sp + 1, off + len - 1).toString("utf8");
    const eq = rec.indexOf("=");
    if (eq > 0) out.set(rec.slice(0, eq), rec.slice(eq + 1));
    off += len;
  }
  return out;
}

/**
 * Normalises an archive path: strips leading "./", refuses absolute paths, `..`, backslashes and NUL.
 * Returns "" for the archive's root. Throws UnsafeArchiveError.
 */
export function normalizeArchivePath(p: string): string {
  if (p.includes("\0") || p.includes("\\"))
    throw new UnsafeArchiveError(`The archive holds a path with a NUL or backslash (${JSON.stringify(p)}); refusing it.`);
  if (p.startsWith("/")) throw new UnsafeArchiveError(`The archive holds an absolute path (${p}); refusing to write outside the staging directory.`);
  const parts = p.split("/").filter((s) => s !== "" && s !== ".");
  if (parts.includes("..")) throw new UnsafeArchiveError(`The archive holds a path with ".." (${p}); refusing to write outside the staging directory.`);
  return parts.join("/");
}

const MAX_META = 1024 * 1024;

/**
 * Reads a tar stream and writes its entries below `opts.root` (see the module comment). Resolves
 * with what was written, once the input ended after the end-of-archive marker. Rejects with
 * UnsafeArchiveError, BadTarError, or the stream's own error (e.g. a CorruptArchiveError from
 * decryption). Partial files may remain below `root` on failure: the caller removes the staging
 * directory.
 */
export async function extractTar(input: AsyncIterable<Buffer>, opts: ExtractOptions): Promise<ExtractedEntry[]> {
  const root = path.resolve(opts.root);
  const src = new ByteSource(input);
  const out: ExtractedEntry[] = [];
  const seen = new Set<string>();
  const maxEntries = opts.maxEntries ?? 10_000;
  let declared = 0;
  let written = 0;
  let pax = new Map<string, string>();
  let longName: string | null = null;
  let zeroBlocks = 0;

  const inside = (rel: string): string => {
    const full = path.resolve(root, rel);
    if (full === root || !full.startsWith(root + path.sep))
      throw new UnsafeArchiveError(`The archive path ${rel} resolves outside the staging directory; refusing it.`);
    return full;
  };
  /** Creates the directories leading to `rel` (each must be a directory this extraction made or allowed). */
  const ensureParents = async (rel: string): Promise<void> => {
    const parts = rel.split("/").slice(0, -1);
    let cur = root;
    for (const part of parts) {
      cur = path.join(cur, part);
      const st = await fsp.lstat(cur).catch(() => null);
      if (!st) await fsp.mkdir(cur, { mode: 0o700 });
      else if (!st.isDirectory() || st.isSymbolicLink()) throw new UnsafeArchiveError(`${cur} is not a directory; refusing to write below it.`);
    }
  };

  for (;;) {
    const block = await src.read(512);
    if (!block) {
      if (zeroBlocks === 0 && out.length === 0) throw new BadTarError("The archive is empty: there is no tar data in it.");
      if (zeroBlocks < 2) throw new BadTarError("The archive ends early: its tar data stops without the end-of-archive marker.");
      break;
    }
    const h = parseHeader(block);
    if (h === "zero") {
      if (++zeroBlocks === 2) {
        await src.expectPaddingOnly();
        break;
      }
      continue;
    }
    if (zeroBlocks) throw new BadTarError("The tar archive has data after an empty block: it is damaged.");
    const padded = Math.ceil(h.size / 512) * 512;

    // Metadata entries describe the next one.
    if (h.type === "x" || h.type === "g" || h.type === "L") {
      if (h.size > MAX_META) throw new UnsafeArchiveError(`A tar metadata entry declares ${h.size} bytes; refusing it.`);
      const data = (await src.read(padded))?.subarray(0, h.size);
      if (!data) throw new BadTarError("The archive ends early: it stops inside a tar metadata entry.");
      if (h.type === "L") longName = cstring(data, 0, data.length);
      else {
        const records = parsePax(data);
        for (const k of records.keys())
          if (k.startsWith("GNU.sparse"))
            throw new UnsafeArchiveError("The archive holds a sparse file (PAX GNU.sparse records); a restore never writes sparse files.");
        if (h.type === "x") pax = records;
      }
      continue;
    }

    const rawName = pax.get("path") ?? longName ?? h.name;
    const size = pax.has("size") ? Number(pax.get("size")) : h.size;
    pax = new Map();
    longName = null;
    if (!Number.isFinite(size) || size < 0) throw new BadTarError(`The size of ${rawName} in the archive is unreadable.`);
    const kind = TYPE_NAMES[h.type];
    if (kind) throw new UnsafeArchiveError(`The archive holds ${kind} (${rawName}); a restore only accepts regular files and directories.`);
    const type: "file" | "dir" | null = h.type === "0" || h.type === "7" ? "file" : h.type === "5" ? "dir" : null;
    if (!type) throw new UnsafeArchiveError(`The archive holds an entry of unknown type ${JSON.stringify(h.type)} (${rawName}); refusing it.`);
    const archivePath = normalizeArchivePath(rawName);
    if (out.length >= maxEntries) throw new UnsafeArchiveError(`The archive holds more than ${maxEntries} entries; refusing it.`);

    if (type === "dir") {
      if (size !== 0)
        throw new BadTarError(
          `The archive's directory entry ${rawName} carries ${size} bytes of data; a directory never does (the archive is damaged or crafted).`,
        );
      const target = archivePath === "" ? null : opts.place(archivePath, "dir");
      if (target === null) continue;
      const full = inside(target);
      await ensureParents(target);
      const st = await fsp.lstat(full).catch(() => null);
      if (!st) await fsp.mkdir(full, { mode: 0o700 });
      else if (!st.isDirectory()) throw new UnsafeArchiveError(`The archive lists ${archivePath} as a directory and as a file.`);
      out.push({ archivePath, target, type, size: 0, mode: h.mode });
      continue;
    }

    if (archivePath === "") throw new UnsafeArchiveError("The archive holds a file without a name; refusing it.");
    const target = opts.place(archivePath, "file");
    if (target === null) throw new UnsafeArchiveError(`The archive holds ${archivePath}, which this kind of backup never contains; refusing it.`);
    if (seen.has(target)) throw new UnsafeArchiveError(`The archive holds ${archivePath} twice; refusing it.`);
    seen.add(target);
    declared += size;
    if (declared > opts.maxBytes)
      throw new UnsafeArchiveError(
        `The archive declares ${declared} bytes of content (${archivePath}: ${size}), more than the ${opts.maxBytes} this restore may unpack (LIFEBOAT_RESTORE_MAX_BYTES, or the room on the staging disk); refusing it.`,
      );
    const full = inside(target);
    await ensureParents(target);
    // O_EXCL: never through an existing file or link.
    const fh = await fsp.open(full, "wx", 0o600);
    try {
      await src.pipe(size, async (chunk) => {
        await fh.write(chunk);
        written += chunk.length;
        opts.onBytes?.(written);
      });
      if (opts.durable !== false) await fh.sync();
    } finally {
      await fh.close();
    }
    if (padded > size) await src.skip(padded - size);
    out.push({ archivePath, target, type, size, mode: h.mode });
  }
  return out;
}
