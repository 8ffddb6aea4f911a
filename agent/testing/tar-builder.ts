import { createWriteStream } from "node:fs";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { encryptStream, zstdCompress } from "../archive";

/**
 * Writes tar archives byte by byte, including what no honest tool writes (paths with "..", absolute
 * paths, links to /etc, device nodes, sizes of 10 GB declared for a few bytes), for the tests that
 * prove a restore refuses them.
 */

export interface RawEntry {
  name: string;
  /** "0" file, "1" hard link, "2" symlink, "3" char device, "5" dir, "S" GNU sparse, "x" PAX header. */
  type: string;
  content?: Buffer;
  /** Declared size when it differs from the content (a bomb). */
  declaredSize?: number;
  linkname?: string;
  mode?: number;
}

function field(buf: Buffer, off: number, len: number, value: string): void {
  buf.write(value, off, Math.min(len, Buffer.byteLength(value)), "utf8");
}

function octalField(buf: Buffer, off: number, len: number, value: number): void {
  field(buf, off, len, value.toString(8).padStart(len - 1, "0") + "\0");
}

/** One 512-byte ustar header. Sizes over 8 GiB use GNU's base-256 encoding. */
export function tarHeader(e: RawEntry): Buffer {
  const b = Buffer.alloc(512);
  field(b, 0, 100, e.name);
  octalField(b, 100, 8, e.mode ?? (e.type === "5" ? 0o755 : 0o644));
  octalField(b, 108, 8, 0);
  octalField(b, 116, 8, 0);
  const size = e.declaredSize ?? e.content?.length ?? 0;
  if (size > 0o77777777777) {
    b[124] = 0x80;
    let v = size;
    for (let i = 135; i > 124; i--) {
      b[i] = v % 256;
      v = Math.floor(v / 256);
    }
  } else octalField(b, 124, 12, size);
  octalField(b, 136, 12, Math.floor(Date.now() / 1000));
  b[156] = e.type.charCodeAt(0);
  if (e.linkname) field(b, 157, 100, e.linkname);
  field(b, 257, 6, "ustar\0");
  field(b, 263, 2, "00");
  field(b, 265, 32, "root");
  field(b, 297, 32, "root");
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const x of b) sum += x;
  field(b, 148, 8, sum.toString(8).padStart(6, "0") + "\0 ");
  return b;
}

/** A PAX extended header entry carrying `records`. */
export function paxEntry(records: Record<string, string>): RawEntry {
  let body = "";
  for (const [k, v] of Object.entries(records)) {
    const rec = ` ${k}=${v}\n`;
    let len = rec.length + 1;
    while (String(len).length + rec.length !== len) len = String(len).length + rec.length;
    body += `${len}${rec}`;
  }
  return { name: "PaxHeaders/x", type: "x", content: Buffer.from(body) };
}

/** The archive's bytes: headers, contents padded to 512, and the two zero blocks (unless `noEnd`). */
export function tarBytes(entries: RawEntry[], opts: { noEnd?: boolean } = {}): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    parts.push(tarHeader(e));
    if (e.content?.length) {
      parts.push(e.content);
      const pad = (512 - (e.content.length % 512)) % 512;
      if (pad) parts.push(Buffer.alloc(pad));
    }
  }
  if (!opts.noEnd) parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

/** Writes `tar` as a Lifeboat archive (zstd, then OpenPGP with the passphrase) to `file`. */
export async function writeLifeboatArchive(file: string, tar: Buffer, passphrase: string): Promise<void> {
  const enc = await encryptStream(Readable.from([tar]).pipe(zstdCompress()), passphrase);
  await pipeline(enc, createWriteStream(file));
}
