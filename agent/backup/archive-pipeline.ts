import { createHash } from "node:crypto";
import { PassThrough, Readable, Transform, pipeline } from "node:stream";
import { decryptStream, encryptStream, zstdCompress, zstdDecompress } from "../../lib/archive";
import type { BackupStore } from "../../lib/storage";
import { memoryPacer } from "./memory-pacer";

/**
 * The packaging pipeline and the archive layouts it writes. H3's restore reads exactly this.
 *
 * One Lifeboat set = four objects under AWS_S3_PATH with one UTC timestamp (lib/contracts/backup-names.ts):
 *   lifeboat_<ts>_state.db.zst.gpg    the verified snapshot file itself (VACUUM INTO copy that passed
 *                                     PRAGMA integrity_check), zstd, OpenPGP
 *   lifeboat_<ts>_server.tar.zst.gpg  tar, entries relative to the k3s server dir: `db/` and `db/state.db`
 *                                     (the same verified snapshot: never the live file, its -wal or -shm),
 *                                     `token`, `cred/**`, `tls/**` (whichever exist); regular files and
 *                                     directories only (symlinks, devices skipped), modes preserved,
 *                                     owner 0:0 (root/root) in every header; zstd; OpenPGP
 *   lifeboat_<ts>_token.tar.zst.gpg   tar with `token`, same header rules; zstd; OpenPGP
 *   lifeboat_<ts>_manifest.json       BackupManifest (lib/contracts/manifest.ts), plain JSON, no secrets,
 *                                     uploaded LAST: a set without it is incomplete and never trusted
 * OpenPGP: symmetric, AES-256, SEIPD v1 (`aeadProtect: false`), no OpenPGP compression, so
 * `gpg --batch --passphrase-file F -d X | zstd -d | tar -x` opens every archive (GnuPG 2.2 and 2.4).
 *
 * Data flow, one object at a time: file or tar stream → zstd → OpenPGP → sha256/size tap → S3
 * multipart upload (lib/storage). Nothing is written to disk after the snapshot; memory is bounded
 * by the stream buffers and the upload's part queue, whatever the database size.
 */
export interface UploadedObject {
  key: string;
  /** Bytes as stored (after compression and encryption). */
  size: number;
  sha256: string;
}

/** Counts bytes passing through (for progress on the input side). */
function counter(onBytes: (n: number) => void): Transform {
  let n = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      n += chunk.length;
      onBytes(n);
      cb(null, chunk);
    },
  });
}

/**
 * Compresses, encrypts and uploads `source` to `key`, hashing what is uploaded on the way.
 * Rejects with the first error of any stage (the source's own error wins, e.g. FileChangedError);
 * a failed upload leaves no object behind (BackupStore.put's contract).
 */
export async function uploadEncrypted(
  store: BackupStore,
  key: string,
  source: Readable,
  passphrase: string,
  opts: { onSourceBytes?: (n: number) => void; onUploadedBytes?: (n: number) => void } = {},
): Promise<UploadedObject> {
  let firstError: unknown;
  const remember = (err: unknown) => {
    if (err && !firstError) firstError = err;
  };
  source.once("error", remember);
  const pace = memoryPacer();
  const onSource = (n: number) => {
    pace(n);
    opts.onSourceBytes?.(n);
  };
  const compressed = pipeline(source, counter(onSource), zstdCompress(), (err) => remember(err));
  const encrypted = await encryptStream(compressed, passphrase);
  const hash = createHash("sha256");
  let size = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      size += chunk.length;
      cb(null, chunk);
    },
  });
  const body = pipeline(encrypted, tap, (err) => remember(err));
  const paceUpload = memoryPacer(10 << 20, "major");
  const onUploaded = (n: number) => {
    paceUpload(n);
    opts.onUploadedBytes?.(n);
  };
  try {
    await store.put(key, body, { contentType: "application/pgp-encrypted", onProgress: onUploaded });
  } catch (err) {
    // Release the source (an open file, the tar generator) whichever stage failed.
    source.destroy();
    throw firstError ?? err;
  }
  if (firstError) throw firstError;
  return { key, size, sha256: hash.digest("hex") };
}

/** Uploads a small in-memory document (the manifest) and returns its size and sha256. */
export async function uploadBuffer(store: BackupStore, key: string, data: Buffer, contentType: string): Promise<UploadedObject> {
  await store.put(key, Readable.from([data], { objectMode: false }), { contentType });
  return { key, size: data.length, sha256: createHash("sha256").update(data).digest("hex") };
}

/**
 * Opens an encrypted archive (Lifeboat's or one made by `gpg -c`, GnuPG 2.2/2.4) and returns its
 * plaintext, zstd-decompressed when `zstd` is true. Rejects with WrongPassphraseError or
 * CorruptArchiveError (lib/archive) when the header is bad; later damage errors the stream.
 */
export async function openArchive(input: Readable, passphrase: string, opts: { zstd: boolean }): Promise<Readable> {
  const plain = await decryptStream(input, passphrase);
  if (!opts.zstd) return plain;
  const out = new PassThrough();
  pipeline(plain, zstdDecompress(), out, () => {});
  return out;
}

/** Reads the first `n` bytes of a stream and closes it (a cheap look inside a large archive). */
export async function readHead(stream: Readable, n: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let got = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      parts.push(chunk);
      got += chunk.length;
      if (got >= n) break;
    }
  } finally {
    stream.destroy();
  }
  return Buffer.concat(parts).subarray(0, n);
}
