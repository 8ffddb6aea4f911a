import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { PassThrough, Readable, Transform, pipeline } from "node:stream";
import { decryptStream, encryptStream, zstdCompress, zstdDecompress } from "../archive";
import type { BackupStore } from "../../lib/storage";
import { CompressStream } from "zstd-napi";
import { memoryPacer } from "./memory-pacer";
import { tarHeader, tarPadding, tarStream, type TarEntry } from "./tar-stream";
import { byteCounter } from "../byte-counter";

/**
 * The packaging pipeline and the archive layouts it writes (also in lib/contracts/backup-names.ts);
 * the restore (agent/restore) reads exactly this.
 *
 * One Lifeboat set (one-copy layout, the default since issue 15) = three objects under AWS_S3_PATH
 * with one UTC timestamp (lib/contracts/backup-names.ts):
 *   lifeboat_<ts>_state.db.zst.gpg    the verified snapshot file itself (VACUUM INTO copy that passed
 *                                     PRAGMA integrity_check), zstd, OpenPGP
 *   lifeboat_<ts>_secrets.tar.zst.gpg tar, entries relative to the k3s server dir: `token`, `cred/**`,
 *                                     `tls/**` (whichever exist); regular files and directories only
 *                                     (symlinks, devices skipped), modes preserved, owner 0:0
 *                                     (root/root) in every header; zstd; OpenPGP
 *   lifeboat_<ts>_manifest.json       BackupManifest (lib/contracts/manifest.ts), plain JSON, no secrets,
 *                                     uploaded LAST: a set without it is incomplete and never trusted
 * The two-copy layout (before issue 15; `layout: "two-copies"` still writes it, for tests and the
 * benchmark) has instead of the secrets archive:
 *   lifeboat_<ts>_server.tar.zst.gpg  tar: `db/` and `db/state.db` (the same verified snapshot, a second
 *                                     copy), `token`, `cred/**`, `tls/**`; zstd (several frames in a
 *                                     row, see uploadSnapshotArchives); OpenPGP
 *   lifeboat_<ts>_token.tar.zst.gpg   tar with `token`, same header rules; zstd; OpenPGP
 * OpenPGP: symmetric, AES-256, SEIPD v1 with MDC (agent/archive/openpgp-encrypt.ts), no OpenPGP compression, so
 * `gpg --batch --passphrase-file F -d X | zstd -d | tar -x` opens every archive (GnuPG 2.2 and 2.4).
 *
 * Data flow: the snapshot is read and zstd-compressed once → OpenPGP → sha256/size tap → S3
 * multipart upload (lib/storage), beside the small secrets archive (uploadOneCopyArchives).
 * Nothing is written to disk after the snapshot; memory is bounded by the stream buffers (256 KiB
 * reads) and the uploads' part pools (3 parts each), whatever the database size.
 */
export interface UploadedObject {
  key: string;
  /** Bytes as stored (after compression and encryption). */
  size: number;
  sha256: string;
}

/**
 * zstd level 2 with a 2 MiB window. A kine database repeats each value in the next row's old_value
 * and in later revisions, often more than 1 MiB further on: levels 1-2 use a 0.5-1 MiB window and
 * miss those repeats. On bench:backup's 200 MB database (zstd-napi, one core): level 1 → 92 MB in
 * 0.88 s of CPU; level 2 with windowLog 21-23 → 66.5 MB in 0.94-0.98 s; level 3 (the CLI's
 * default) → 63.6 MB in 1.49 s. So level 2 + a wider window stores a set in ~1× one `zstd` copy
 * at level 1's cost, and the smaller archive is also less to encrypt and upload. windowLog 21, not
 * 22: the same archive within 0.2 % (62.88 against 62.80 MB of a VACUUM INTO snapshot) for 2 MiB
 * less of the backup's peak RSS, which the window's buffer fills (102–103 against 104.5–105.4 MB,
 * four runs each alternating; windowLog 20 → 83.3 MB: docs/benchmarks.md, 2026-12-07 evening).
 * `zstd -d` reads windows up to 128 MiB without flags, zstd-napi too, so archives written with
 * either window restore alike. It compresses on the main thread: a zstd worker thread (nbWorkers:
 * 1) was ~10 % faster while openpgp.js encrypted, but with the native encryption the backup took as
 * long either way and the worker's buffers cost 20-30 MB of peak RSS.
 */
export const ZSTD_LEVEL = 2;
/** log2 of the compression window (see ZSTD_LEVEL). */
export const ZSTD_WINDOW_LOG = 21;

/**
 * Encrypts an already compressed stream and uploads it to `key`, hashing what is uploaded on the way.
 * Rejects with the first error of any stage (the source's own error wins, e.g. FileChangedError);
 * a failed upload leaves no object behind (BackupStore.put's contract).
 */
async function encryptAndPut(
  store: BackupStore,
  key: string,
  compressed: Readable,
  passphrase: string,
  onUploadedBytes?: (n: number) => void,
): Promise<UploadedObject> {
  let firstError: unknown;
  const remember = (err: unknown) => {
    if (err && !firstError) firstError = err;
  };
  compressed.on("error", remember);
  remember(compressed.errored); // it may have failed before this function was called (a stopped backup)
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
  try {
    await store.put(key, body, { contentType: "application/pgp-encrypted", onProgress: onUploadedBytes });
  } catch (err) {
    // Release the source (an open file, the tar generator) whichever stage failed.
    compressed.destroy();
    throw firstError ?? err;
  }
  if (firstError) throw firstError;
  return { key, size, sha256: hash.digest("hex") };
}

/** `source` → byte counter (progress, memory pacing) → zstd. Errors of either stage reach the output. */
function compress(source: Readable, onSourceBytes?: (n: number) => void): Readable {
  const pace = memoryPacer();
  const count = byteCounter((n) => {
    pace(n);
    onSourceBytes?.(n);
  });
  return pipeline(source, count, new CompressStream({ compressionLevel: ZSTD_LEVEL, windowLog: ZSTD_WINDOW_LOG }), () => {});
}

/**
 * Compresses, encrypts and uploads `source` to `key` (the token archive). Rejects with the first error
 * of any stage; a failed upload leaves no object behind.
 */
export async function uploadEncrypted(
  store: BackupStore,
  key: string,
  source: Readable,
  passphrase: string,
  opts: { onSourceBytes?: (n: number) => void; onUploadedBytes?: (n: number) => void } = {},
): Promise<UploadedObject> {
  let sourceError: unknown;
  source.on("error", (err) => (sourceError ??= err));
  try {
    return await encryptAndPut(store, key, compress(source, opts.onSourceBytes), passphrase, opts.onUploadedBytes);
  } catch (err) {
    source.destroy();
    throw sourceError ?? err;
  }
}

/**
 * Splits a stream into `n` branches with backpressure: the source pauses until every branch has
 * drained, so the slowest consumer sets the pace and nothing piles up in memory.
 */
function tee(source: Readable, n: number): PassThrough[] {
  const outs = Array.from({ length: n }, () => new PassThrough({ highWaterMark: 256 << 10 }));
  // A branch's error is kept in its `errored` for its consumer, which may not be listening yet.
  for (const o of outs) o.on("error", () => {});
  let waiting = 0;
  const drained = () => {
    if (--waiting === 0) source.resume();
  };
  source.on("data", (chunk: Buffer) => {
    for (const o of outs) {
      if (!o.write(chunk)) {
        waiting++;
        o.once("drain", drained);
      }
    }
    if (waiting > 0) source.pause();
  });
  source.once("end", () => outs.forEach((o) => o.end()));
  source.on("error", (err) => outs.forEach((o) => o.destroy(err)));
  for (const o of outs) o.once("close", () => !o.writableFinished && source.destroy(o.errored ?? new Error("a branch of the archive stream closed early")));
  return outs;
}

/** zstd-compresses a small buffer into one complete frame. */
async function compressBuffer(data: Buffer): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of Readable.from([data], { objectMode: false }).pipe(zstdCompress(ZSTD_LEVEL))) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

/** What both layouts' uploads read: the snapshot, and the server files beside it. */
interface ArchivesInput {
  snapshotPath: string;
  /** token, cred/**, tls/** (after the database in the server archive; alone in the secrets archive). */
  rest: TarEntry[];
  passphrase: string;
  /** Snapshot bytes read so far (the database is read once, whatever the layout). */
  onSnapshotBytes?: (n: number) => void;
  /** Bytes of the rest entries read so far. */
  onRestBytes?: (n: number) => void;
  /** Aborting stops both uploads (rejecting with the signal's reason). */
  signal?: AbortSignal;
}

export interface SnapshotArchivesInput extends ArchivesInput {
  snapshotBytes: number;
  /** Entries before the database file's contents: `db/` and the `db/state.db` header. */
  head: TarEntry[];
  keys: { logical: string; files: string };
}

/**
 * The logical and the server archive from ONE read and ONE compression of the snapshot, encrypted
 * and uploaded side by side. zstd frames concatenate (`zstd -d` and zstd-napi decode them in a row),
 * so the server archive's zstd stream is
 *   zstd(tar headers of db/ and db/state.db) ‖ Z ‖ zstd(padding, token, cred/**, tls/**, end blocks)
 * where Z is exactly the compressed snapshot that the logical archive holds; decompressed, it is an
 * ordinary tar. This halves the CPU spent compressing, the costliest step after the upload itself.
 * Rejects with the first error; a failure of either upload stops both.
 */
export async function uploadSnapshotArchives(store: BackupStore, input: SnapshotArchivesInput): Promise<{ logical: UploadedObject; files: UploadedObject }> {
  const source = createReadStream(input.snapshotPath, { highWaterMark: 256 << 10 });
  const z = compress(source, input.onSnapshotBytes);
  const [forLogical, forFiles] = tee(z, 2);
  const headFrame = await compressBuffer(Buffer.concat(input.head.map(tarHeader)));
  const padding = tarPadding(input.snapshotBytes);
  const rest = input.rest;
  const onRest = input.onRestBytes;
  const filesBody = Readable.from(
    (async function* () {
      yield headFrame;
      yield* forFiles;
      const tail = Readable.from(
        (async function* () {
          if (padding.length) yield padding;
          yield* tarStream(rest, { onBytes: onRest });
        })(),
        { objectMode: false },
      );
      yield* compress(tail);
    })(),
    { objectMode: false },
  );
  const stopAll = (err: unknown) => {
    source.destroy(err instanceof Error ? err : new Error(String(err)));
    filesBody.destroy();
  };
  const [logical, files] = await sideBySide(input.signal, stopAll, [
    () => encryptAndPut(store, input.keys.logical, forLogical, input.passphrase),
    () => encryptAndPut(store, input.keys.files, filesBody, input.passphrase),
  ]);
  return { logical, files };
}

/**
 * Runs two uploads at once; the first failure, or aborting `signal`, calls `stopAll` so the other
 * stops too. Rejects with the signal's reason when aborted, else with the first upload's error.
 */
async function sideBySide(
  signal: AbortSignal | undefined,
  stopAll: (err: unknown) => void,
  uploads: [() => Promise<UploadedObject>, () => Promise<UploadedObject>],
): Promise<[UploadedObject, UploadedObject]> {
  const onAbort = () => stopAll(signal!.reason);
  if (signal?.aborted) onAbort();
  signal?.addEventListener("abort", onAbort, { once: true });
  const results = await Promise.allSettled(
    uploads.map((u) =>
      u().catch((e) => {
        stopAll(e);
        throw e;
      }),
    ),
  );
  signal?.removeEventListener("abort", onAbort);
  if (signal?.aborted) throw signal.reason;
  for (const r of results) if (r.status === "rejected") throw r.reason;
  return [(results[0] as PromiseFulfilledResult<UploadedObject>).value, (results[1] as PromiseFulfilledResult<UploadedObject>).value];
}

export interface OneCopyArchivesInput extends ArchivesInput {
  keys: { logical: string; secrets: string };
}

/**
 * The one-copy layout's two archives, encrypted and uploaded side by side: the snapshot (read and
 * compressed once) and the secrets tar. Rejects with the first error; a failure of either stops both.
 */
export async function uploadOneCopyArchives(store: BackupStore, input: OneCopyArchivesInput): Promise<{ logical: UploadedObject; secrets: UploadedObject }> {
  const source = createReadStream(input.snapshotPath, { highWaterMark: 256 << 10 });
  const secretsTar = tarStream(input.rest, { onBytes: input.onRestBytes });
  const stopAll = (err: unknown) => {
    const e = err instanceof Error ? err : new Error(String(err));
    source.destroy(e);
    secretsTar.destroy(e);
  };
  const [logical, secrets] = await sideBySide(input.signal, stopAll, [
    () => encryptAndPut(store, input.keys.logical, compress(source, input.onSnapshotBytes), input.passphrase),
    () => uploadEncrypted(store, input.keys.secrets, secretsTar, input.passphrase),
  ]);
  return { logical, secrets };
}

/** Uploads a small in-memory document (the manifest) and returns its size and sha256. */
export async function uploadBuffer(store: BackupStore, key: string, data: Buffer, contentType: string): Promise<UploadedObject> {
  await store.put(key, Readable.from([data], { objectMode: false }), { contentType });
  return { key, size: data.length, sha256: createHash("sha256").update(data).digest("hex") };
}

/**
 * Opens an encrypted archive (Lifeboat's or one made by `gpg -c`, GnuPG 2.2/2.4) and returns its
 * plaintext, zstd-decompressed when `zstd` is true. Rejects with WrongPassphraseError or
 * CorruptArchiveError (agent/archive) when the header is bad; later damage errors the stream.
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
