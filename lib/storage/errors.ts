/** The object or bucket asked for does not exist. */
export class NotFoundError extends Error {
  readonly code = "not_found";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "NotFoundError";
  }
}

/** Why a storage call failed, in terms a user can act on. */
export type StorageFailure =
  | "unreachable" // DNS, connection refused, timeout
  | "auth" // wrong or missing credentials, access denied
  | "no_bucket" // the bucket does not exist
  | "other";

/**
 * A storage call failed. `message` names the operation and the endpoint/bucket, never a credential;
 * `cause` keeps the provider's error for logs.
 */
export class StorageError extends Error {
  readonly code = "storage_error";
  constructor(
    message: string,
    readonly failure: StorageFailure = "other",
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "StorageError";
  }
}
