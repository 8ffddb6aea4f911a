import { DomainError } from "../../lib/contracts/errors";
import { isStorageError } from "../../lib/storage/errors";
import type { BackupStore } from "../../lib/storage/backup-store";
import type { BackupSet } from "../../lib/backups/grouping";
import { openArchive, readHead } from "./archive-pipeline";

/**
 * What "wrong passphrase" means for a backup. Encrypting always succeeds, whatever the passphrase, so
 * a typo in LIFEBOAT_PASSPHRASE_FILE would silently produce backups that the passphrase the user keeps
 * cannot open — found out only on the day of a restore. So before uploading, the agent proves its
 * passphrase opens the newest existing set in the store:
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

/**
 * Proves `passphrase` opens the newest set of `sets` (newest first). Resolves with a sentence saying
 * what was checked. Rejects with PassphraseMismatchError, or StorageError when the store fails.
 */
export async function checkPassphrase(store: BackupStore, sets: BackupSet[], passphrase: string): Promise<string> {
  // The small archive that holds the token: the secrets archive (one-copy layout) or the token archive.
  const small = (s: BackupSet) => s.objects.find((o) => o.kind === "lifeboat-secrets" || o.kind === "lifeboat-token");
  const lifeboat = sets.find((s) => s.format === "lifeboat" && small(s) && s.objects.some((o) => o.kind === "manifest"));
  const seed = sets.find((s) => s.format === "seed" && s.objects.length > 0);
  // The newer of the two decides: that is the passphrase the user used last.
  const target = lifeboat && (!seed || lifeboat.time >= seed.time) ? lifeboat : seed;
  if (!target) return "no earlier backup in the store: this set defines the passphrase";
  const obj =
    target.format === "lifeboat"
      ? small(target)!
      : (target.objects.find((o) => o.kind === "logical") ?? target.objects.find((o) => o.kind === "file-archive")!);
  const input = await store.get(obj.key);
  let timer: NodeJS.Timeout | undefined;
  try {
    const check = async () => {
      if (target.format === "lifeboat") {
        await drain(await openArchive(input, passphrase, { zstd: true }));
      } else {
        const head = await readHead(await openArchive(input, passphrase, { zstd: false }), 16);
        const want = obj.kind === "logical" ? SQLITE_MAGIC : ZSTD_MAGIC;
        if (!head.subarray(0, want.length).equals(want)) throw new Error("unexpected plaintext");
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
  } catch (err) {
    if (err instanceof PassphraseCheckStalled || isStorageError(err)) throw err;
    throw new PassphraseMismatchError(target.id, obj.key);
  } finally {
    clearTimeout(timer);
    input.destroy();
  }
  return `the passphrase opens the newest existing backup (${obj.key})`;
}
