import { createWriteStream, promises as fsp, rmSync, statSync } from "node:fs";
import path from "node:path";
import { PassThrough, Transform, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import Database from "better-sqlite3";
import { CorruptArchiveError, WrongPassphraseError, decryptStream, zstdDecompress, zstdDecompressOffThread } from "../archive";
import { fsyncDirectories, fsyncPath } from "../../lib/storage/durable-file";
import type { Origin, ResolvedSource } from "./sources";
import { BadTarError, UnsafeArchiveError, extractTar } from "./unpack";
import { byteCounter } from "../byte-counter";

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
    readonly reason: "wrong_passphrase" | "corrupt_archive" | "unsafe_archive" | "too_large" | "no_space" | "source" | "other",
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "StageError";
  }
}

export interface StageOptions {
  stagingDir: string;
  passphrase: () => string;
  maxBytes: number;
  /** fsync what is staged (default true). A drill, whose staging is dropped at once, skips it. */
  durable?: boolean;
  /** Bytes read from the source(s) so far, and their total when known. */
  onProgress?(done: number, total: number | null): void;
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
    case "file-archive":
      // The seed job's `tar -cf - -C db .`: ./state.db, ./state.db-wal, ./state.db-shm.
      return (p, type) => (type === "file" && SEED_DB_FILES.has(p) ? `db/${p}` : refuse(p));
    default:
      return refuse;
  }
}

function isZstd(layout: Origin["layout"]): boolean {
  return layout === "lifeboat-files" || layout === "lifeboat-logical" || layout === "lifeboat-token" || layout === "file-archive";
}
function isEncrypted(layout: Origin["layout"]): boolean {
  return layout !== "plain-db";
}
function isTar(layout: Origin["layout"]): boolean {
  return layout === "lifeboat-files" || layout === "lifeboat-token" || layout === "file-archive";
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

/** Caps a plain stream at `max` bytes (a database file has no header that declares its size). */
function cap(max: number, name: string): Transform {
  let n = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      n += chunk.length;
      if (n > max)
        return cb(new UnsafeArchiveError(`${name} holds more than the ${max} bytes a restore accepts (LIFEBOAT_RESTORE_MAX_BYTES); refusing it.`, true));
      cb(null, chunk);
    },
  });
}

/** Translates what can go wrong while reading an archive into one StageError with a sentence. */
export function describeStageError(err: unknown, name: string): StageError {
  if (err instanceof StageError) return err;
  if (err instanceof WrongPassphraseError)
    return new StageError(
      `The passphrase does not open ${name}: check LIFEBOAT_PASSPHRASE_FILE (it must hold the passphrase the backup was made with). Nothing on the server changed.`,
      "wrong_passphrase",
      { cause: err },
    );
  if (err instanceof CorruptArchiveError || err instanceof BadTarError)
    return new StageError(`${name} is damaged: ${(err as Error).message} Restore another backup. Nothing on the server changed.`, "corrupt_archive", {
      cause: err,
    });
  if (err instanceof UnsafeArchiveError)
    return new StageError(
      `${name} was refused: ${err.message} Nothing was written outside the staging directory and nothing on the server changed.`,
      err.tooLarge ? "too_large" : "unsafe_archive",
      { cause: err },
    );
  const e = err as NodeJS.ErrnoException;
  if (e?.code === "ENOSPC")
    return new StageError(
      `The disk filled up while staging ${name}. Free space (or point LIFEBOAT_STATE_DIR at a disk with room on the same filesystem). Nothing on the server changed.`,
      "no_space",
      { cause: err },
    );
  // zstd-napi reports damaged input with its own messages.
  if (/frame|zstd|compress|Unknown frame descriptor|corrupt/i.test(e?.message ?? ""))
    return new StageError(`${name} is damaged (zstd: ${e.message}). Restore another backup. Nothing on the server changed.`, "corrupt_archive", { cause: err });
  return new StageError(`Staging ${name} failed: ${e?.message ?? String(err)}. Nothing on the server changed.`, "other", { cause: err });
}

/** Archives smaller than this are decompressed on this thread: a worker costs more to start than they take. */
const SMALL_ARCHIVE = 8 << 20;

/**
 * Reads one origin into the staging directory. Returns the bytes read from it. `signal` stops it
 * (another origin of the same backup failed).
 */
async function stageOrigin(origin: Origin, opts: StageOptions, onBytes: (n: number) => void, signal: AbortSignal): Promise<number> {
  let read = 0;
  let raw: Readable | undefined;
  let plain: Readable | undefined;
  const stop = () => {
    plain?.destroy(new Error("staging stopped: another part of the backup failed"));
    raw?.destroy();
  };
  signal.addEventListener("abort", stop, { once: true });
  try {
    raw = await origin.open();
    if (signal.aborted) throw new Error("staging stopped: another part of the backup failed");
    const counted = raw.pipe(
      byteCounter((n) => {
        read = n;
        onBytes(n);
      }),
    );
    raw.on("error", (err) => counted.destroy(err));
    plain = isEncrypted(origin.layout) ? await decryptStream(counted, opts.passphrase()) : counted;
    if (isEncrypted(origin.layout)) {
      // Decryption hands out pieces of the download's size (openpgp.js: a few KB); zstd, its worker
      // (one message per piece) and the disk work better on 256 KiB pieces (here faster than 0.5–4 MiB).
      const decrypted = plain;
      plain = decrypted.pipe(rechunk(256 * 1024));
      decrypted.on("error", (err) => plain!.destroy(err));
    }
    if (isZstd(origin.layout)) {
      // zstd runs on a worker thread, beside the download and decryption on this one. The 256 KiB
      // pieces are this pipeline's own, so they are moved to it, not copied.
      const small = origin.size !== null && origin.size < SMALL_ARCHIVE;
      const z = small ? zstdDecompress() : zstdDecompressOffThread({ transferInput: isEncrypted(origin.layout) });
      const out = new PassThrough();
      plain.on("error", (err) => out.destroy(err));
      z.on("error", (err) => out.destroy(err));
      out.on("close", () => z.destroy());
      plain.pipe(z).pipe(out);
      plain = out;
    }
    if (isTar(origin.layout)) {
      await extractTar(plain, { root: opts.stagingDir, place: placer(origin.layout), maxBytes: opts.maxBytes, durable: opts.durable });
    } else {
      const dbDir = path.join(opts.stagingDir, "db");
      await fsp.mkdir(dbDir, { recursive: true, mode: 0o700 });
      const dest = path.join(dbDir, "state.db");
      await pipeline(plain, cap(opts.maxBytes, origin.name), createWriteStream(dest, { flags: "wx", mode: 0o600 }));
      if (opts.durable !== false) fsyncPath(dest);
    }
  } catch (err) {
    // Stop the download: nothing more of this archive is wanted.
    plain?.destroy();
    raw?.destroy();
    throw describeStageError(err, origin.name);
  } finally {
    signal.removeEventListener("abort", stop);
  }
  return read;
}

/**
 * Makes the staged database one self-contained file: a WAL that came with it (from a live copy) is
 * replayed and checkpointed, and the journal mode set to DELETE. Its own -shm is dropped first: an
 * index copied from a running server describes that server's state, not this file's. Throws on a
 * database SQLite cannot open (verification reports it).
 */
function settleDatabase(dbPath: string, durable: boolean): boolean {
  const hadWal = Boolean(statOrNull(`${dbPath}-wal`));
  for (const f of [`${dbPath}-shm`, `${dbPath}-journal`]) rmSync(f, { force: true });
  const db = new Database(dbPath);
  try {
    if (hadWal) db.pragma("wal_checkpoint(TRUNCATE)");
    db.pragma("journal_mode = DELETE");
  } finally {
    db.close();
  }
  for (const f of [`${dbPath}-wal`, `${dbPath}-shm`]) rmSync(f, { force: true });
  if (durable) fsyncPath(dbPath);
  return hadWal;
}

/**
 * Stages `src` into `opts.stagingDir` (which must exist and be empty). Throws StageError; on failure
 * the caller removes the staging directory.
 */
export async function stageBackup(src: ResolvedSource, opts: StageOptions): Promise<StagedFiles> {
  const total = src.primary.size !== null ? src.primary.size + (src.token?.size ?? 0) : null;
  // The set's token archive (small) comes down beside the database archive; the first failure
  // stops the other, and nothing returns before both have stopped writing.
  const origins = src.token ? [src.primary, src.token] : [src.primary];
  const read = origins.map(() => 0);
  const stop = new AbortController();
  let firstFailure: unknown = null;
  const results = await Promise.allSettled(
    origins.map((origin, i) =>
      stageOrigin(
        origin,
        opts,
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
        stop.abort();
        throw err;
      }),
    ),
  );
  if (results.some((r) => r.status === "rejected")) throw firstFailure;
  const bytes = read.reduce((a, b) => a + b, 0);
  const dbPath = path.join(opts.stagingDir, "db", "state.db");
  if (!statOrNull(dbPath))
    throw new StageError(`${src.primary.name} holds no state.db; it is not a k3s datastore backup. Nothing on the server changed.`, "source");
  let walReplayed = false;
  try {
    walReplayed = settleDatabase(dbPath, opts.durable !== false);
  } catch {
    // A database SQLite cannot even open: the verify step runs integrity_check and says so.
  }
  const exists = (p: string) => (statOrNull(path.join(opts.stagingDir, p)) ? path.join(opts.stagingDir, p) : null);
  // Every staged name (db/, token, cred/ and tls/ with what is in them) durable before the journal says "staged".
  if (opts.durable !== false) fsyncDirectories(opts.stagingDir);
  return { dbPath, tokenPath: exists("token"), credDir: exists("cred"), tlsDir: exists("tls"), walReplayed, bytesRead: bytes };
}
