import { DomainError, hasErrorCode } from "../contracts/errors";

/** The object or bucket asked for does not exist (`storage_not_found`). */
export class NotFoundError extends DomainError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("storage_not_found", message, options);
  }
}

/** Why a storage call failed, in terms a user can act on. */
export type StorageFailure =
  | "unreachable" // DNS, connection refused, timeout
  | "auth" // wrong or missing credentials, access denied
  | "no_bucket" // the bucket does not exist
  | "other";

/**
 * A storage call failed (`storage_<failure>`). `message` names the operation and the endpoint/bucket,
 * never a credential; `cause` keeps the provider's error for logs.
 */
export class StorageError extends DomainError {
  constructor(
    message: string,
    readonly failure: StorageFailure = "other",
    options?: { cause?: unknown },
  ) {
    super(`storage_${failure}`, message, options);
  }
}

/** True for a StorageError or NotFoundError from any copy of this module (the store failed, not the caller). */
export function isStorageError(err: unknown): err is DomainError {
  return hasErrorCode(err, "storage_unreachable", "storage_auth", "storage_no_bucket", "storage_not_found", "storage_other");
}

/** An object key the stores refuse (`invalid_key`, 400): a `..` or `.` segment, or a control character. */
export class InvalidKeyError extends DomainError {
  constructor(key: string) {
    super(
      "invalid_key",
      `${JSON.stringify(key.slice(0, 200))} is not a valid object key: keys may not hold "." or ".." segments or control characters. Nothing was read or written.`,
    );
  }
}

/**
 * Returns `key` when a store may use it; throws InvalidKeyError otherwise. Both stores call it before
 * anything else, so a key from a request never reaches S3 or the filesystem as a path trick.
 */
export function checkObjectKey(key: string): string {
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(key) || key.split("/").some((seg) => seg === ".." || seg === ".")) throw new InvalidKeyError(key);
  return key;
}
