import { constants, promises as fsp } from "node:fs";
import { existingAncestor } from "../host/disk";
import { mib, roomAboveReserve, STAGING_RESERVE_BYTES } from "../restore/stage-limits";

/**
 * What the recovery ladder may write, and its failures in words. The ladder works on copies in
 * LIFEBOAT_STATE_DIR/recoveries/, usually on the k3s server's own filesystem: it must never fill it
 * (k3s stops writing, its WAL cannot grow), so it keeps the reserve restore staging keeps
 * (STAGING_RESERVE_BYTES), and refuses to start without room for everything it may write.
 */

/** The ladder did not start, or stopped; the message is a sentence saying why and what to do. */
export class RecoveryStopped extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RecoveryStopped";
  }
}

/**
 * A database rebuilt from a damaged one (.dump imported, .recover imported, the salvage) may come out
 * larger than it: a dump that hits damage goes on in reverse rowid order, and the rows inserted out of
 * order split pages (1.3× measured on the test fixture). Plain copies are the database's size.
 */
const REBUILT_GROWTH = 1.5;
/** The report, the shells' scratch and SQLite's page rounding. */
const LADDER_SLACK = 4 * 1024 ** 2;

/**
 * The most the ladder holds at once, for a database of `dbBytes` and a WAL of `walBytes` (the WAL
 * applied, a copy grows by at most the WAL): work.db, the integrity rung's copy for the kine check,
 * the rollback journal of the kine check's repairs (at most one result's size), and each rebuilt
 * result. The WAL's check (a second copy and the WAL beside it) holds less, and is over before the
 * rungs run.
 */
export function ladderBytes(dbBytes: number, walBytes: number, rebuilt: number): { bytes: number; copies: number } {
  const d = dbBytes + walBytes;
  const copies = 3 + rebuilt * REBUILT_GROWTH;
  return { bytes: Math.ceil(copies * d) + LADDER_SLACK, copies };
}

/**
 * Refuses (RecoveryStopped) a ladder that would need more than the room above the reserve on the
 * filesystem of `root`. Rejects with RecoveryStopped too when statfs fails.
 */
export async function checkRoom(root: string, dbBytes: number, walBytes: number, rebuilt: number, sourceName: string): Promise<void> {
  const at = await existingAncestor(root);
  const st = await fsp.statfs(at).catch((err: unknown) => {
    throw new RecoveryStopped(`The free space under ${root} cannot be read (${ioReason(err)}), so the recovery did not start.`);
  });
  const free = st.bavail * st.bsize;
  const need = ladderBytes(dbBytes, walBytes, rebuilt);
  if (need.bytes <= roomAboveReserve(free)) return;
  const what = `${mib(dbBytes)} ${sourceName}${walBytes > 0 ? ` and its ${mib(walBytes)} WAL` : ""}`;
  throw new RecoveryStopped(
    `Not enough room to recover: the ladder needs up to ${mib(need.bytes)} under ${root} (about ${need.copies.toFixed(1).replace(/\.0$/, "")} copies of the ${what}) and leaves ${mib(STAGING_RESERVE_BYTES)} free for k3s, but that filesystem has ${mib(free)} free. ` +
      `Free space there (older recoveries in ${root} can go), or run the recovery with LIFEBOAT_STATE_DIR on a disk that has room (LIFEBOAT_STATE_DIR=/mnt/big/lifeboat lifeboat-agent recover). Nothing was copied.`,
  );
}

/**
 * Creates the recoveries directory (and `dir` in it when given). Rejects with RecoveryStopped, in
 * words, when it cannot be written: a read-only filesystem, permissions, a file in the way.
 */
export async function makeWritableDir(root: string, dir: string = root): Promise<void> {
  try {
    await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
    await fsp.access(dir, constants.W_OK);
  } catch (err) {
    // Node's recursive mkdir reports ENOENT where a parent could not be made: ask the nearest existing one.
    const at = await existingAncestor(dir);
    const why = await fsp.access(at, constants.W_OK).then(
      () => ioReason(err),
      (e: unknown) => ioReason(e),
    );
    throw new RecoveryStopped(
      `The recovery works on copies under ${root}, and ${at} is not writable (${why}). Make it writable, or run the recovery with LIFEBOAT_STATE_DIR on a writable disk with room for copies of the database (LIFEBOAT_STATE_DIR=/mnt/big/lifeboat lifeboat-agent recover). Nothing was copied.`,
    );
  }
}

const NO_SPACE_CODES = new Set(["ENOSPC", "EDQUOT", "EFBIG", "SQLITE_FULL"]);
/** SQLite's and the system's words for a write that found no room (as the sqlite3 shell prints them too). */
const NO_SPACE_TEXT = /database or disk is full|no space left on device|disk quota exceeded|file too large/i;
/** A write SQLite could not make: with ulimit -f or a full disk, SQLite often says only this. */
const WRITE_FAILED_TEXT = /disk I\/O error/i;

/** Whether `err` (or a shell's stderr) says a write found no room. */
export function isNoSpace(err: unknown): boolean {
  if (typeof err === "string") return NO_SPACE_TEXT.test(err);
  const e = err as NodeJS.ErrnoException | null;
  return !!e && ((typeof e.code === "string" && NO_SPACE_CODES.has(e.code)) || NO_SPACE_TEXT.test(String(e.message)));
}

/** The first line of a shell's stderr that says a write failed (no room, or an I/O error); null when none does. */
export function writeFailureLine(stderr: string): string | null {
  return stderr.split("\n").find((l) => NO_SPACE_TEXT.test(l) || WRITE_FAILED_TEXT.test(l)) ?? null;
}

const REASONS: Record<string, string> = {
  ENOSPC: "the disk is full",
  EDQUOT: "the disk quota is used up",
  EFBIG: "a file reached the size limit of this process (ulimit -f)",
  SQLITE_FULL: "the disk is full",
  EROFS: "a read-only filesystem",
  EACCES: `permission denied for uid ${process.getuid?.() ?? "?"}`,
  EPERM: `not permitted for uid ${process.getuid?.() ?? "?"}`,
  ENOTDIR: "a part of the path is a file, not a directory",
  EIO: "an I/O error: the disk may be failing",
  ENOENT: "a file or directory disappeared",
};

/** An I/O error in words: never "ENOSPC: no space left on device, write". */
export function ioReason(err: unknown): string {
  const e = err as NodeJS.ErrnoException | null;
  const code = typeof e?.code === "string" ? e.code : null;
  if (code && REASONS[code]) return REASONS[code];
  if (isNoSpace(err)) return REASONS.ENOSPC;
  const msg = String(e?.message ?? err);
  // "EXYZ: what happened, syscall 'path'" → "what happened"
  const m = /^[A-Z][A-Z0-9_]+: ([^,]+)/.exec(msg);
  return m ? m[1] : msg;
}

/** The free space under `dir` now, in words ("12.0 MiB free"); "" when it cannot be read. */
export async function freeNow(dir: string): Promise<string> {
  try {
    const st = await fsp.statfs(await existingAncestor(dir));
    return `${mib(st.bavail * st.bsize)} free`;
  } catch {
    return "";
  }
}
