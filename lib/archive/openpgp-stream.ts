import { PassThrough, Readable } from "node:stream";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import * as openpgp from "openpgp";

/** The passphrase does not open this archive (or it was encrypted for someone else). */
export class WrongPassphraseError extends Error {
  constructor(message = "The passphrase does not open this archive: check LIFEBOAT_PASSPHRASE_FILE (it must hold the passphrase the backup was made with).") {
    super(message);
    this.name = "WrongPassphraseError";
  }
}

/** The archive is not an OpenPGP message, or it is cut short or altered. */
export class CorruptArchiveError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "CorruptArchiveError";
  }
}

const ENCRYPT_CONFIG = {
  // SEIPD v1 packets: both GnuPG 2.2 and 2.4 decrypt them (`gpg -d`). v6 AEAD packets neither can.
  aeadProtect: false,
  preferredSymmetricAlgorithm: openpgp.enums.symmetric.aes256,
  // The payload is zstd already; OpenPGP compression would only cost CPU.
  preferredCompressionAlgorithm: openpgp.enums.compression.uncompressed,
};

/**
 * Encrypts a stream with a passphrase as OpenPGP (AES-256, like `gpg -c --cipher-algo AES256`).
 * Streams: memory stays bounded whatever the input size.
 */
export async function encryptStream(input: Readable, passphrase: string): Promise<Readable> {
  const message = await openpgp.createMessage({ binary: Readable.toWeb(input) as unknown as ReadableStream<Uint8Array> });
  const out = await openpgp.encrypt({ message, passwords: [passphrase], format: "binary", config: ENCRYPT_CONFIG });
  return Readable.fromWeb(out as unknown as WebReadableStream<Uint8Array>);
}

/**
 * Decrypts an OpenPGP passphrase-encrypted stream (from the agent or from `gpg -c`, GnuPG 2.2/2.4).
 *
 * Rejects with WrongPassphraseError or CorruptArchiveError before any byte is produced when the header
 * is bad. The output streams at once, so integrity is only known at its end: a truncated or altered
 * archive makes the returned stream error (with CorruptArchiveError). Write it to a temporary file and
 * keep that only when the stream ended cleanly.
 */
export async function decryptStream(input: Readable, passphrase: string): Promise<Readable> {
  let message;
  try {
    message = await openpgp.readMessage({ binaryMessage: Readable.toWeb(input) as unknown as ReadableStream<Uint8Array> });
  } catch (err) {
    throw new CorruptArchiveError(`This is not an OpenPGP-encrypted archive (or its header is damaged): ${(err as Error).message}`, { cause: err });
  }
  let result;
  try {
    result = await openpgp.decrypt({
      message,
      passwords: [passphrase],
      format: "binary",
      // Stream out without buffering the whole message; the MDC/AEAD check still runs at the end.
      config: { allowUnauthenticatedStream: true },
    });
  } catch (err) {
    const msg = (err as Error).message ?? "";
    if (/session key|passphrase|password|decrypt/i.test(msg)) throw new WrongPassphraseError();
    throw new CorruptArchiveError(`The archive cannot be decrypted: ${msg}`, { cause: err });
  }
  const data = Readable.fromWeb(result.data as unknown as WebReadableStream<Uint8Array>);
  // Translate openpgp's mid-stream failures (MDC mismatch, truncation) into one error type.
  const out = new PassThrough();
  data.on("error", (err) => out.destroy(new CorruptArchiveError(`The archive is truncated or was altered: ${err.message}`, { cause: err })));
  out.on("close", () => data.destroy());
  data.pipe(out);
  return out;
}
