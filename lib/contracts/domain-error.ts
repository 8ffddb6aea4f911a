/**
 * Lifeboat's one error model, shared by the agent, the dashboard's server and the browser.
 *
 * Domain code throws a `DomainError` (or a subclass) carrying a stable `code`; the code fixes the
 * HTTP status through `ERROR_STATUS`, so nothing downstream picks a status by looking at a message.
 * Each boundary translates exactly once: the agent's router, the dashboard's route wrapper and the
 * browser's fetch helper. The wire form is always `{ code, message, ...details }`.
 *
 * docs/errors.md lists every code with its status and meaning; a test keeps the two in step.
 *
 * This module imports nothing: code that runs where zod is not wanted (the SQLite worker thread, whose
 * SnapshotError is a DomainError) imports it directly. `./errors` re-exports all of it beside the zod
 * schema of the wire form (`ApiErrorBody`), and is what everything else imports.
 */

/** Every code a Lifeboat API answers with, and the HTTP status it is answered with. */
export const ERROR_STATUS = {
  // The request itself
  bad_request: 400,
  invalid_key: 400,
  bad_json: 400,
  bad_query: 400,
  confirm_mismatch: 400,
  acknowledge_warnings: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  body_too_large: 413,
  unsupported_media_type: 415,
  misdirected_request: 421,
  rate_limited: 429,
  header_too_large: 431,

  // State: the action does not fit what is happening now
  conflict: 409,
  job_running: 409,
  datastore_busy: 409,
  backup_busy: 409,
  restore_state: 409,
  wizard_state: 409,
  drain_running: 409,
  control_plane: 422,

  // The wizards (restore, worker migration): the action does not fit the run's step or state
  wrong_step: 409,
  restore_running: 409,
  restore_active: 409,
  restore_closed: 409,
  migration_active: 409,
  migration_closed: 409,
  no_target: 409,
  target_unavailable: 409,
  target_changed: 409,
  recovery_running: 409,
  pods_back: 409,
  nothing_recovered: 409,
  not_verified: 409,
  not_drained: 409,
  no_recovery: 409,
  no_new_node: 409,
  no_health: 409,
  no_candidate: 409,
  cannot_rollback: 409,
  cannot_retry: 409,
  cannot_finish: 409,
  cannot_confirm: 409,
  already_verified: 409,
  agent_busy: 409,
  no_such_set: 404,
  no_token_file: 404,
  not_demo_cluster: 404,
  token_unreadable: 503,
  token_empty: 503,

  // Configuration of this process
  not_configured: 503,
  config: 500,
  health_unavailable: 503,

  // Taking a snapshot of the live database (agent)
  snapshot_missing: 503,
  snapshot_not_sqlite: 503,
  snapshot_not_kine: 503,
  snapshot_damaged: 503,
  snapshot_no_space: 503,
  snapshot_other: 503,

  // Opening a backup archive (agent): the passphrase does not open it, or it is damaged
  wrong_passphrase: 422,
  corrupt_archive: 422,

  // Continuous protection's log (agent): a segment on the way to the asked point is missing or damaged
  log_damaged: 422,
  no_log_point: 404,

  // The backup store (S3 or a directory)
  storage_unreachable: 502,
  storage_auth: 502,
  storage_no_bucket: 502,
  storage_not_found: 502,
  storage_other: 502,

  // The on-node agent, as the dashboard's server sees it
  agent_unreachable: 502,
  agent_slow: 502,
  agent_auth: 502,
  agent_tls: 502,
  agent_error: 502,
  agent_bad_response: 502,
  no_agent: 503,

  // The Kubernetes API, as the dashboard's server sees it
  kube_not_configured: 503,
  kube_unreachable: 502,
  kube_tls: 502,
  kube_unauthorized: 502,
  kube_forbidden: 403,
  kube_not_found: 404,
  kube_conflict: 409,
  kube_invalid: 422,
  kube_other: 502,

  // Nothing the caller can do about it
  internal: 500,
} as const satisfies Record<string, number>;

export type ErrorCode = keyof typeof ERROR_STATUS;

/** The wire form of an error, `{ code, message, ...details }` (`ApiErrorBody` in ./errors is its zod schema). */
export interface ErrorBody {
  code: string;
  message: string;
  [detail: string]: unknown;
}

/** True when `code` is one of ERROR_STATUS's codes. */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === "string" && Object.prototype.hasOwnProperty.call(ERROR_STATUS, code);
}

// Next.js bundles a module once per route, and a process-wide singleton made by one route may throw
// another copy's class, so recognition goes by a registered symbol, not by `instanceof` or `name`.
const BRAND = Symbol.for("lifeboat.DomainError");

export interface DomainErrorOptions {
  /** Extra fields sent beside `code` and `message` (e.g. `jobId` of a `job_running`). Never secrets. */
  details?: Record<string, unknown>;
  cause?: unknown;
}

/**
 * An error a user can meet: `message` is a sentence that says what happened and what to do next,
 * `code` is stable (clients match on it), `status` follows from the code.
 */
export class DomainError extends Error {
  readonly [BRAND] = true;
  readonly details: Record<string, unknown> | undefined;

  constructor(
    readonly code: ErrorCode,
    message: string,
    options: DomainErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.details = options.details;
  }

  /** The HTTP status this error is answered with. */
  get status(): number {
    return ERROR_STATUS[this.code];
  }

  /** The wire form: `{ code, message, ...details }`. */
  toBody(): ErrorBody {
    return { ...this.details, code: this.code, message: this.message };
  }
}

/** True for a DomainError from any copy of this module. */
export function isDomainError(err: unknown): err is DomainError {
  return typeof err === "object" && err !== null && (err as Record<symbol, unknown>)[BRAND] === true;
}

/** True for a DomainError with one of `codes` (from any copy of this module). */
export function hasErrorCode(err: unknown, ...codes: ErrorCode[]): err is DomainError {
  return isDomainError(err) && codes.includes(err.code);
}
