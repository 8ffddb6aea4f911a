import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { decryptStream, encryptStream, zstdCompress, zstdDecompress } from "../archive";

/**
 * A segment's bytes: its SQL text, zstd, then OpenPGP with the backup passphrase (agent/archive, the
 * same streams as every archive), so `gpg -d | zstd -d` gives the text back.
 */

async function collect(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

/** Compresses and encrypts a segment's text. Rejects when a stream fails. */
export async function encodeSegment(sql: string, passphrase: string): Promise<Buffer> {
  const compressed = await collect(Readable.from([Buffer.from(sql, "utf8")]).pipe(zstdCompress(3)));
  return collect(await encryptStream(Readable.from([compressed]), passphrase));
}

/**
 * Decrypts and decompresses a segment's bytes back to its text. Rejects with WrongPassphraseError or
 * CorruptArchiveError (agent/archive) when they do not open, or a zstd error when they are damaged.
 */
export async function decodeSegment(input: Readable, passphrase: string): Promise<string> {
  const plain = await decryptStream(input, passphrase);
  const parts: Buffer[] = [];
  // pipeline() passes a damaged stream's error on (a for-await over .pipe() would not see the decryptor's).
  await pipeline(plain, zstdDecompress(), new Writable({ write: (c: Buffer, _e, done) => (parts.push(c), done()) }));
  return Buffer.concat(parts).toString("utf8");
}
