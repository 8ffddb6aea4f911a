import { createWriteStream, promises as fsp, statSync } from "node:fs";
import { createHash } from "node:crypto";
import path from "node:path";
import { PassThrough, Transform, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { CorruptArchiveError, PublicKeyEncryptedError, UnreadableArchiveError, WrongPassphraseError, decryptStream, zstdDecompress } from "../archive";
import { fsyncDirectories } from "../../lib/storage/durable-file";
import { isStorageError } from "../../lib/storage/errors";
import type { Origin, ResolvedSource } from "./sources";
import { StagingBudget, StagingLimitError, stagingBudget } from "./stage-limits";
import { BadTarError, UnsafeArchiveError, extractTar } from "./unpack";
import { byteCounter } from "../byte-counter";
import { runOffThread } from "../sqlite/worker";
import { JobStalledError, whenAborted } from "../jobs/job-registry";

/**
 * Stage step: download, decrypt, decompress and unpack a backup into a private staging directory,
 * so that afterwards it holds exactly what the swap moves into place:
 *
 *   <staging>/db/state.db     one self-contained SQLite file (a live copy's WAL replayed into it)
 *   <staging>/token           when the backup holds one
 *   <staging>/cred/, tls/     when the backup holds them
 *
 * Nothing outside the staging directory is written. A wrong passphrase fails at once; a truncated
 * or altered archive fails when its end is reached (OpenPGP checks integrity last), and then the
 * staging directory is dropped by the caller.
 */

/** Staging failed in a way the user can act on; the message says what happened and what to do. */
export class StageError extends Error {
  constructor(
    message: string,
    readonly reason: "wrong_passphrase" | "corrupt_archive" | "unsafe_archive" | "too_large" | "no_space" | "source" | "stopped" | "other",
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "StageError";
  }
}

export interface StageOptions {
  stagingDir: string;
  passphrase: () => string;
  /** LIFEBOAT_RESTORE_MAX_BYTES: the most all archives together may unpack to (less when the disk has less room, see stage-limits.ts). */
  maxBytes: number;
  /** fsync what is staged (default true). A drill, whose staging is dropped at once, skips it. */
  durable?: boolean;
  /** Bytes read from the source(s) so far, and their total when known. */
  onProgress?(done: number, total: number | null): void;
  /** Aborting stops every stream of the staging at once; it then rejects with a StageError carrying the reason's message. */
  signal?: AbortSignal;
}

export interface StagedFiles {
  dbPath: string;
  tokenPath: string | null;
  credDir: string | null;
  tlsDir: string | null;
  /** A WAL came with the database (a seed file archive of a live db) and was replayed into it. */
  walReplayed: boolean;
  bytesRead: number;
}

const SEED_DB_FILES = new Set(["state.db", "state.db-wal", "state.db-shm"]);

/** Where each entry of each archive layout goes inside the staging directory (null: skip; throw: refuse). */
function placer(layout: Origin["layout"]): (p: string, type: "file" | "dir") => string | null {
  const refuse = (p: string): never => {
    throw new UnsafeArchiveError(`The archive holds ${p}, which this kind of backup never contains; refusing it.`);
  };
  switch (layout) {
    case "lifeboat-files":
      return (p, type) => {
        if (p === "db" && type === "dir") return "db";
        if (p === "db/state.db" && type === "file") return "db/state.db";
        if (p === "token" && type === "file") return "token";
        if (/^(cred|tls)(\/.+)?$/.test(p)) return p;
        return refuse(p);
      };
    case "lifeboat-token":
      return (p, type) => (p === "token" && type === "file" ? "token" : refuse(p));
    case "lifeboat-secrets":
      // Everything of the server archive but the database, which comes from the state.db archive.
      return (p, type) => {
        if (p === "token" && type === "file") return "token";
        if (/^(cred|tls)(\/.+)?$/.test(p)) return p;
        return refuse(p);
      };
    case "file-archive":
      // The seed job's `tar -cf - -C db .`: ./state.db, ./state.db-wal, ./state.db-shm.
      return (p, type) => (type === "file" && SEED_DB_FILES.has(p) ? `db/${p}` : refuse(p));
    default:
      return refuse;
  }
}

function isZstd(layout: Origin["layout"]): boolean {
  return layout !== "plain-db" && layout !== "logical" && layout !== "manifest";
}
function isEncrypted(layout: Origin["layout"]): boolean {
  return layout !== "plain-db";
}
function isTar(layout: Origin["layout"]): boolean {
  return layout === "lifeboat-files" || layout === "lifeboat-token" || layout === "lifeboat-secrets" || layout === "file-archive";
}

function statOrNull(p: string) {
  try {
    return statSync(p);
  } catch {
    return null;
  }
}

/** Joins small chunks into ~`size` bytes. */
function rechunk(size: number): Transform {
  let parts: Buffer[] = [];
  let n = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      parts.push(chunk);
      n += chunk.length;
      if (n < size) return cb();
      const out = Buffer.concat(parts, n);
      parts = [];
      n = 0;
      cb(null, out);
    },
    flush(cb) {
      cb(null, n ? Buffer.concat(parts, n) : undefined);
    },
  });
}

/** The download itself failed (the store, the network, the file): not the archive's fault. */
class DownloadError extends Error {
  constructor(readonly original: Error) {
    super(original.message, { cause: original });
    this.name = "DownloadError";
  }
}

/** The end of every staging failure's sentence: staging writes nothing outside its directory. */
export const UNCHANGED = "Nothing on the server changed.";

/** Translates what can go wrong while reading an archive into one StageError with a sentence. */
export function describeStageError(err: unknown, name: string): StageError {
  if (err instanceof StageError) return err;
  if (err instanceof JobStalledError) return new StageError(`${err.message} ${UNCHANGED}`, "stopped", { cause: err });
  if (err instanceof PublicKeyEncryptedError)
    return new StageError(`${name} cannot be opened: ${err.message} ${UNCHANGED}`, "wrong_passphrase", { cause: err });
  if (err instanceof WrongPassphraseError)
    return new StageError(
      `The passphrase does not open ${name}: check LIFEBOAT_PASSPHRASE_FILE (it must hold the passphrase the backup was made with). ${UNCHANGED}`,
      "wrong_passphrase",
      { cause: err },
    );
  if (err instanceof UnreadableArchiveError) return new StageError(`${name} cannot be opened: ${err.message} ${UNCHANGED}`, "corrupt_archive", { cause: err });
  if (err instanceof CorruptArchiveError || err instanceof BadTarError)
    return new StageError(`${name} is damaged: ${(err as Error).message} Restore another backup. ${UNCHANGED}`, "corrupt_archive", { cause: err });
  if (err instanceof StagingLimitError) return new StageError(`${err.message} ${UNCHANGED}`, err.reason, { cause: err });
  if (err instanceof UnsafeArchiveError)
    return new StageError(
      `${name} was refused: ${err.message} Nothing was written outside the staging directory and nothing on the server changed.`,
      err.tooLarge ? "too_large" : "unsafe_archive",
      { cause: err },
    );
  if (err instanceof DownloadError || isStorageError(err)) {
    const e = err instanceof DownloadError ? err.original : (err as Error);
    return new StageError(
      `Reading ${name} from the store failed: ${e.message.replace(/\.$/, "")}. Check the store and the network, then try again. ${UNCHANGED}`,
      "source",
      { cause: err },
    );
  }
  const e = err as NodeJS.ErrnoException;
  if (e?.code === "ENOSPC")
    return new StageError(
      `The disk filled up while staging ${name}. Free space (or point LIFEBOAT_STATE_DIR at a disk with room on the same filesystem). ${UNCHANGED}`,
      "no_space",
      { cause: err },
    );
  return new StageError(`Staging ${name} failed: ${(e?.message ?? String(err)).replace(/\.$/, "")}. ${UNCHANGED}`, "other", { cause: err });
}

/**
 * Reads one origin into the staging directory, every stage in one pipeline so that any stage's
 * failure (the download, OpenPGP, zstd, the byte budget, tar, the disk) ends all of them and is
 * the one error this rejects with. Returns the bytes read from it. `signal` stops it (a stall, or
 * another origin of the same backup failed): it then rejects with the signal's reason.
 */
async function stageOrigin(origin: Origin, opts: StageOptions, budget: StagingBudget, onBytes: (n: number) => void, signal: AbortSignal): Promise<number> {
  let read = 0;
  let raw: Readable | undefined;
  try {
    signal.throwIfAborted();
    // A plain database goes to db/state.db as it is; make its directory first, so nothing waits
    // between opening the download and the pipeline that reads it.
    if (!isTar(origin.layout)) await fsp.mkdir(path.join(opts.stagingDir, "db"), { recursive: true, mode: 0o700 });
    // Opening waits for the store's answer, which may never come: the signal ends the wait.
    const opening = origin.open();
    opening.then(
      (r) => signal.aborted && r.destroy(),
      () => {},
    );
    raw = await Promise.race([opening, whenAborted(signal)]);
    const source = raw;
    const counted = byteCounter((n) => {
      read = n;
      onBytes(n);
    });
    // The download's own failures are told apart from the archive's: the store is to blame, not the
    // backup. Whatever stops first, the other side is stopped too.
    counted.on("error", () => {}); // kept in counted.errored for the pipeline below
    source.on("error", (err) => counted.destroy(new DownloadError(err)));
    source.on("close", () => {
      if (!source.readableEnded) counted.destroy(new DownloadError(source.errored ?? new Error("the download stopped before the end of the object")));
    });
    counted.on("close", () => source.destroy());
    // Every byte of the object, as stored: checked against its manifest's sha256 once all are read.
    const hash = origin.sha256 ? createHash("sha256") : null;
    if (hash) source.on("data", (chunk: Buffer) => hash.update(chunk));
    source.pipe(counted);
    const stop = () => counted.destroy(signal.reason instanceof Error ? signal.reason : new Error(String(signal.reason)));
    signal.addEventListener("abort", stop, { once: true });
    try {
      const plain = isEncrypted(origin.layout) ? await decryptStream(counted, opts.passphrase()) : counted;
      const encrypted = isEncrypted(origin.layout);
      // Decryption hands out pieces of the download's size (openpgp.js: a few KB); zstd, its worker
      // (one message per piece) and the disk work better on 256 KiB pieces (here faster than 0.5–4 MiB).
      const pieces = encrypted ? rechunk(256 * 1024) : new PassThrough();
      // zstd runs on a worker thread, beside the download and decryption on this one. The 256 KiB
      // pieces are this pipeline's own, so they are moved to it, not copied.
      const unzstd = isZstd(origin.layout) ? zstdDecompress({ transferInput: encrypted }) : new PassThrough();
      // Every byte that comes out of decompression counts, whatever the headers inside declare.
      const counter = budget.counter(origin.name);
      if (isTar(origin.layout)) {
        const place = placer(origin.layout);
        const unpack = (src: AsyncIterable<Buffer>) => extractTar(src, { root: opts.stagingDir, place, maxBytes: budget.max, durable: opts.durable });
        await pipeline(plain, pieces, unzstd, counter, unpack, { signal });
      } else {
        const dest = path.join(opts.stagingDir, origin.stageAs ?? "db/state.db");
        // (Made durable with the rest below: settling the database fsyncs it.)
        await pipeline(plain, pieces, unzstd, counter, createWriteStream(dest, { flags: "wx", mode: 0o600 }), { signal });
      }
      // Whole, decrypted and unpacked, and yet maybe not the object the backup uploaded (another
      // backup's, copied over it): what is staged would not be the set the manifest describes.
      const got = hash?.digest("hex");
      if (got && got !== origin.sha256)
        throw new CorruptArchiveError(
          `Its sha256 (${got.slice(0, 12)}…) is not the one the set's manifest records (${origin.sha256!.slice(0, 12)}…): it was replaced or altered after the backup.`,
        );
    } finally {
      signal.removeEventListener("abort", stop);
      counted.destroy();
    }
  } catch (err) {
    // Stop the download: nothing more of this archive is wanted.
    raw?.destroy();
    throw describeStageError(signal.aborted ? signal.reason : err, origin.name);
  }
  return read;
}

/**
 * Stages `src` into `opts.stagingDir` (which must exist and be empty). Throws StageError; on failure
 * the caller removes the staging directory.
 */
export async function stageBackup(src: ResolvedSource, opts: StageOptions): Promise<StagedFiles> {
  const origins = [src.primary, ...(src.token ? [src.token] : []), ...(src.journals ?? [])];
  const total = origins.every((o) => o.size !== null) ? origins.reduce((n, o) => n + o.size!, 0) : null;
  // Before a byte is downloaded: does what the archives expand to fit the limit and the disk?
  const budget = await stagingBudget(opts.stagingDir, opts.maxBytes);
  try {
    // A compressed database never unpacks to less than it is stored in; the manifest may know more.
    budget.precheck(
      src.primary.name,
      origins.reduce((n, o) => n + Math.max(o.size ?? 0, o.expandsTo ?? 0), 0),
    );
  } catch (err) {
    throw describeStageError(err, src.primary.name);
  }
  // The set's secrets or token archive (small) comes down beside the database archive; the first failure
  // stops the other, and nothing returns before both have stopped writing.
  const read = origins.map(() => 0);
  const stop = new AbortController();
  const onOuterAbort = () => stop.abort(opts.signal!.reason);
  if (opts.signal?.aborted) onOuterAbort();
  opts.signal?.addEventListener("abort", onOuterAbort, { once: true });
  let firstFailure: unknown = null;
  const results = await Promise.allSettled(
    origins.map((origin, i) =>
      stageOrigin(
        origin,
        opts,
        budget,
        (n) => {
          read[i] = n;
          opts.onProgress?.(
            read.reduce((a, b) => a + b, 0),
            total,
          );
        },
        stop.signal,
      ).catch((err) => {
        firstFailure ??= err;
        stop.abort(new StageError(`Staging stopped: ${(err as Error).message}`, "stopped"));
        throw err;
      }),
    ),
  ).finally(() => opts.signal?.removeEventListener("abort", onOuterAbort));
  if (results.some((r) => r.status === "rejected")) throw firstFailure;
  const bytes = read.reduce((a, b) => a + b, 0);
  const dbPath = path.join(opts.stagingDir, "db", "state.db");
  if (!statOrNull(dbPath)) throw new StageError(`${src.primary.name} holds no state.db; it is not a k3s datastore backup. ${UNCHANGED}`, "source");
  let walReplayed = false;
  try {
    walReplayed = await runOffThread({ kind: "settle", dbPath, durable: opts.durable !== false });
  } catch {
    // A database SQLite cannot even open: the verify step runs integrity_check and says so.
  }
  const exists = (p: string) => (statOrNull(path.join(opts.stagingDir, p)) ? path.join(opts.stagingDir, p) : null);
  // Every staged name (db/, token, cred/ and tls/ with what is in them) durable before the journal says "staged".
  if (opts.durable !== false) fsyncDirectories(opts.stagingDir);
  return { dbPath, tokenPath: exists("token"), credDir: exists("cred"), tlsDir: exists("tls"), walReplayed, bytesRead: bytes };
}
