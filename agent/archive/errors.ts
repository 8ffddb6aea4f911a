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
