import { DomainError } from "../../lib/contracts/errors";
import { isStorageError } from "../../lib/storage/errors";
import type { BackupStore } from "../../lib/storage/backup-store";
import { setFolder, type BackupSet } from "../../lib/backups/grouping";
import type { CatalogObject } from "../../lib/contracts/catalog";
import { WrongPassphraseError } from "../archive";
import { openArchive, readHead } from "./archive-pipeline";

/**
 * What "wrong passphrase" means for a backup. Encrypting always succeeds, whatever the passphrase, so
 * a typo in LIFEBOAT_PASSPHRASE_FILE would silently produce backups that the passphrase the user keeps
 * cannot open — found out only on the day of a restore. So before uploading, the agent proves its
 * passphrase opens the newest existing set in the store (the next newest when that one cannot be read
 * at all: checkPassphrase below):
 * - a Lifeboat set: its token archive (a few hundred bytes) is decrypted and decompressed to the end,
 *   so OpenPGP's integrity check (MDC) runs;
 * - else a seed CronJob set (`gpg -c`): the first bytes of its logical backup must decrypt to
 *   "SQLite format 3" (or, for the file archive, to a zstd frame). decryptStream answers a wrong
 *   passphrase from the message's first bytes (OpenPGP's quick check, what gpg calls "bad session
 *   key"), so this reads a few KB of a large archive;
 * - an empty store: nothing to compare with; this first set defines the passphrase.
 * The check runs beside the snapshot (agent/backup/run-backup.ts); a mismatch fails the backup before
 * anything is uploaded (the snapshot is dropped) unless the caller passes `allowNewPassphrase` for a
 * deliberate change of passphrase.
 */
export class PassphraseMismatchError extends DomainError {
  constructor(
    readonly setId: string,
    key: string,
  ) {
    super(
      "wrong_passphrase",
      `The passphrase in LIFEBOAT_PASSPHRASE_FILE does not open the newest existing backup (${key}): it is not the passphrase of your earlier backups, or that archive is damaged. Nothing was uploaded. Fix the passphrase file; if you changed the passphrase on purpose, run the backup with --allow-new-passphrase (API: "allowNewPassphrase": true).`,
    );
  }
}

/** The check did not finish in time: a failed backup, not a wrong passphrase. */
class PassphraseCheckStalled extends Error {}

const CHECK_TIMEOUT_MS = 60_000;
const SQLITE_MAGIC = Buffer.from("SQLite format 3\0", "latin1");
const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);

async function drain(stream: NodeJS.ReadableStream): Promise<void> {
  for await (const _ of stream) {
    // read to the end so the integrity check at the end of the OpenPGP message runs
  }
}

/** How many archives the check tries, newest first, when the newer ones cannot be read at all. */
const MAX_TRIES = 4;

type Candidate = { set: BackupSet; obj: CatalogObject };

/**
 * The archives the check can open, newest set first: a complete Lifeboat set's small archive (the
 * secrets archive of the one-copy layout, or the token archive), a seed set's logical backup, then
 * its file archive.
 */
function candidates(sets: BackupSet[]): Candidate[] {
  const out: Candidate[] = [];
  for (const set of [...sets].sort((a, b) => b.time.getTime() - a.time.getTime())) {
    // Another cluster's sets under a longer prefix may have another passphrase: only the store's own count.
    if (setFolder(set) !== null) continue;
    if (set.format === "lifeboat") {
      const small = set.objects.find((o) => o.kind === "lifeboat-secrets" || o.kind === "lifeboat-token");
      if (small && set.objects.some((o) => o.kind === "manifest")) out.push({ set, obj: small });
    } else if (set.format === "seed") {
      for (const kind of ["logical", "file-archive"] as const) {
        const obj = set.objects.find((o) => o.kind === kind);
        if (obj) out.push({ set, obj });
      }
    }
  }
  return out;
}

/**
 * Opens one archive with `passphrase`. Resolves when it opens; rejects with WrongPassphraseError when
 * the passphrase is not the archive's (OpenPGP's quick check), StorageError, PassphraseCheckStalled,
 * or any other error when the archive is damaged (empty, cut, altered, not what its name says).
 */
async function openOne(store: BackupStore, { set, obj }: Candidate, passphrase: string): Promise<void> {
  const input = await store.get(obj.key);
  let timer: NodeJS.Timeout | undefined;
  try {
    const check = async () => {
      if (set.format === "lifeboat") {
        await drain(await openArchive(input, passphrase, { zstd: true }));
      } else {
        const head = await readHead(await openArchive(input, passphrase, { zstd: false }), 16);
        const want = obj.kind === "logical" ? SQLITE_MAGIC : ZSTD_MAGIC;
        if (!head.subarray(0, want.length).equals(want)) throw new Error("it does not decrypt to what its name says");
      }
    };
    // Belt and braces: a decrypt that stalls must fail the backup, not hang it.
    const stall = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new PassphraseCheckStalled(`checking the passphrase against ${obj.key} did not finish within ${CHECK_TIMEOUT_MS / 1000} s`)),
        CHECK_TIMEOUT_MS,
      );
    });
    await Promise.race([check(), stall]);
  } finally {
    clearTimeout(timer);
    input.destroy();
  }
}

/**
 * Proves `passphrase` opens the newest set of `sets`. Resolves with a sentence saying what was
 * checked. Rejects with PassphraseMismatchError, or StorageError when the store fails.
 *
 * Only OpenPGP's answer that the passphrase is not the archive's is a mismatch. An archive that cannot
 * be read at all (an empty object, one cut short or altered: a seed job that failed halfway, a disk)
 * says nothing about the passphrase, so the check goes on to the next newest archive (at most
 * MAX_TRIES); a damaged seed archive must not stop every backup with advice to change the passphrase.
 * When none of them can be read, the check cannot tell, and the backup goes on: the sentence says so.
 */
export async function checkPassphrase(store: BackupStore, sets: BackupSet[], passphrase: string): Promise<string> {
  const all = candidates(sets);
  if (!all.length) return "no earlier backup in the store: this set defines the passphrase";
  const unreadable: string[] = [];
  for (const c of all.slice(0, MAX_TRIES)) {
    try {
      await openOne(store, c, passphrase);
    } catch (err) {
      if (err instanceof PassphraseCheckStalled || isStorageError(err)) throw err;
      if (err instanceof WrongPassphraseError) throw new PassphraseMismatchError(c.set.id, c.obj.key);
      unreadable.push(`${c.obj.key} (${c.obj.size === 0 ? "empty" : "damaged"})`);
      continue;
    }
    return unreadable.length
      ? `the passphrase opens ${c.obj.key}; the newer ${unreadable.join(", ")} could not be read at all, so they say nothing about it`
      : `the passphrase opens the newest existing backup (${c.obj.key})`;
  }
  return `the passphrase could not be checked: the newest archives, ${unreadable.join(", ")}, cannot be read at all (restore drills of them will say what is wrong)`;
}
