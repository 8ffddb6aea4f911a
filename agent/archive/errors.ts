import { DomainError } from "../../lib/contracts/errors";

/** The passphrase does not open this archive, or it was encrypted for someone else (`wrong_passphrase`). */
export class WrongPassphraseError extends DomainError {
  constructor(message = "The passphrase does not open this archive: check LIFEBOAT_PASSPHRASE_FILE (it must hold the passphrase the backup was made with).") {
    super("wrong_passphrase", message);
  }
}

/**
 * The archive was encrypted to a public key (`gpg -e`, `--recipient`) and holds no passphrase packet:
 * no passphrase opens it (`wrong_passphrase`).
 */
export class PublicKeyEncryptedError extends WrongPassphraseError {
  constructor() {
    super(
      "The archive was encrypted to a public key (gpg -e / --recipient), not with a passphrase: Lifeboat opens only archives encrypted with a symmetric passphrase (gpg -c), so no LIFEBOAT_PASSPHRASE_FILE opens it. Decrypt it with the private key (gpg -d) and restore the file that gives.",
    );
  }
}

/** The archive is not an OpenPGP message, or it is cut short or altered (`corrupt_archive`). */
export class CorruptArchiveError extends DomainError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("corrupt_archive", message, options);
  }
}

/**
 * The archive is whole but made in a way Lifeboat does not read (`corrupt_archive`): the message
 * says how it was made and how to open it instead; it is not called damaged.
 */
export class UnreadableArchiveError extends CorruptArchiveError {}
