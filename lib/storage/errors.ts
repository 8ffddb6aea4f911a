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
