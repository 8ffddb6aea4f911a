import { promises as fsp } from "node:fs";
import { Transform } from "node:stream";
import { existingAncestor } from "../host/disk";

/**
 * How much a restore may unpack. Two limits, whichever is lower: LIFEBOAT_RESTORE_MAX_BYTES, and the
 * room on the staging filesystem minus a reserve that staging never touches (k3s, its WAL and the
 * journals keep working while a restore stages). Both are checked twice: before the download, from
 * what is known of the archive (the manifest's database size, else its stored size, which a
 * compressed database never undercuts), and then on every decompressed byte as it is unpacked, so a
 * crafted archive that expands without bound stops at the limit, not when the disk is full.
 */

/** Free space staging leaves on its filesystem: room for k3s's writes and WAL, the journals, the logs. */
export const STAGING_RESERVE_BYTES = 256 * 1024 ** 2;

/** What staging may take of a filesystem with `freeBytes` free: all of it but the reserve. */
export function roomAboveReserve(freeBytes: number): number {
  return Math.max(0, freeBytes - STAGING_RESERVE_BYTES);
}

/** Staging would exceed a limit; `reason` says which (`too_large`: LIFEBOAT_RESTORE_MAX_BYTES, `no_space`: the disk). */
export class StagingLimitError extends Error {
  constructor(
    message: string,
    readonly reason: "too_large" | "no_space",
  ) {
    super(message);
    this.name = "StagingLimitError";
  }
}

/** Bytes as the staging errors write them (one decimal under 10 MiB). */
export const mib = (n: number) => `${(n / 1024 ** 2).toFixed(n < 10 * 1024 ** 2 ? 1 : 0)} MiB`;

/** The byte budget of one staging run, shared by every archive it unpacks. */
export class StagingBudget {
  private used = 0;

  constructor(
    /** LIFEBOAT_RESTORE_MAX_BYTES. */
    readonly configured: number,
    /** Free bytes on the staging filesystem when staging began. */
    readonly freeBytes: number,
    readonly dir: string,
  ) {}

  /** The most staging may write: the configured limit, or the room above the reserve when that is less. */
  get max(): number {
    return Math.max(0, Math.min(this.configured, roomAboveReserve(this.freeBytes)));
  }

  private get limitedBySpace(): boolean {
    return this.freeBytes - STAGING_RESERVE_BYTES < this.configured;
  }

  /** The error for something that needs more than the budget; `subject` says what ("X expands to more than"). */
  exceeded(subject: string): StagingLimitError {
    if (!this.limitedBySpace)
      return new StagingLimitError(
        `${subject} LIFEBOAT_RESTORE_MAX_BYTES (${mib(this.configured)}), the most a restore unpacks; refusing it. If the backup really is that large, raise LIFEBOAT_RESTORE_MAX_BYTES.`,
        "too_large",
      );
    return new StagingLimitError(
      `${subject} the room staging has on ${this.dir} (${mib(this.freeBytes)} free, less ${mib(STAGING_RESERVE_BYTES)} staging leaves for k3s). Free space there, or point LIFEBOAT_STATE_DIR at a disk with room on the server directory's filesystem.`,
      "no_space",
    );
  }

  /**
   * Refuses, before anything is downloaded, archives that unpack to at least `atLeast` bytes when
   * that is more than the budget. Throws StagingLimitError.
   */
  precheck(name: string, atLeast: number): void {
    if (atLeast > this.max) throw this.exceeded(`${name} unpacks to at least ${mib(atLeast)}, more than`);
  }

  /** A pass-through that counts every byte against the budget and fails with StagingLimitError at the first byte over it. */
  counter(name: string): Transform {
    return new Transform({
      transform: (chunk: Buffer, _enc, cb) => {
        this.used += chunk.length;
        if (this.used > this.max) return cb(this.exceeded(`${name} expands to more than`));
        cb(null, chunk);
      },
    });
  }
}

/** The budget for staging into `dir` (or its nearest existing parent). Rejects when statfs fails. */
export async function stagingBudget(dir: string, configured: number): Promise<StagingBudget> {
  const st = await fsp.statfs(await existingAncestor(dir));
  return new StagingBudget(configured, st.bavail * st.bsize, dir);
}
