import { Readable } from "node:stream";
import { decompress as zstdDecompressBuffer } from "zstd-napi";
import { CorruptArchiveError, decryptStream, encryptStream, zstdCompress } from "../archive";
import type { KeyDeriver } from "../archive/openpgp-native";
// A segment never unpacks to more than this (the shipper caps its reads well below); anything bigger is not one of ours.
import { MAX_SEGMENT_TEXT } from "./segment-format";

/**
 * A segment's bytes: its SQL text, zstd, then OpenPGP with the backup passphrase (agent/archive, the
 * same streams as every archive), so `gpg -d | zstd -d` gives the text back.
 */

async function collect(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

/**
 * Compresses and encrypts a segment's text. Rejects when a stream fails. Segments of one process share
 * an S2K salt (encryptStream's sharedSalt): the key is derived once, here and by the restore that
 * reads them, instead of once per segment.
 */
export async function encodeSegment(sql: string, passphrase: string): Promise<Buffer> {
  const compressed = await collect(Readable.from([Buffer.from(sql, "utf8")]).pipe(zstdCompress(3)));
  return collect(await encryptStream(Readable.from([compressed]), passphrase, { sharedSalt: true }));
}

/**
 * Decrypts and decompresses a segment's bytes back to its text (its passphrase key derived by `derive`
 * when given and not known yet). Rejects with WrongPassphraseError or
 * CorruptArchiveError (agent/archive) when they do not open or are damaged.
 *
 * zstd runs on this thread, in one call: a segment is small, and the off-thread decompressor of the
 * archives starts a worker per stream (~0.1 s, most of a restore's time over thousands of segments).
 * Its bomb guard is not needed here: the text was encrypted with the backup passphrase, so only its
 * holder could have made a hostile one.
 */
export async function decodeSegment(input: Readable, passphrase: string, derive?: KeyDeriver): Promise<string> {
  const compressed = await collect(await decryptStream(input, passphrase, derive ? { derive } : {}));
  let text: Buffer;
  try {
    text = zstdDecompressBuffer(compressed, { windowLogMax: 27 });
  } catch (err) {
    throw new CorruptArchiveError(`The segment's zstd data is damaged (zstd: ${(err as Error).message}).`);
  }
  if (text.length > MAX_SEGMENT_TEXT) throw new CorruptArchiveError("The segment unpacks to more than any segment holds.");
  return text.toString("utf8");
}
