import { Readable } from "node:stream";
import type { ReadableStream as WebReadableStream } from "node:stream/web";

/**
 * A stream encrypted by openpgp.js instead of the agent's own writer (agent/archive/openpgp-encrypt.ts):
 * an encrypted session key in the SKESK, its own partial lengths. Tests use it to prove the native
 * reader handles both writers. Rejects when openpgp.js does.
 */
export async function encryptStreamWithOpenpgp(input: Readable, passphrase: string): Promise<Readable> {
  const openpgp = await import("openpgp");
  const config = {
    aeadProtect: false,
    preferredSymmetricAlgorithm: openpgp.enums.symmetric.aes256,
    preferredCompressionAlgorithm: openpgp.enums.compression.uncompressed,
  };
  const message = await openpgp.createMessage({ binary: Readable.toWeb(input) as unknown as ReadableStream<Uint8Array> });
  const out = await openpgp.encrypt({ message, passwords: [passphrase], format: "binary", config });
  return Readable.fromWeb(out as unknown as WebReadableStream<Uint8Array>);
}
