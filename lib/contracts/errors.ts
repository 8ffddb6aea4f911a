import { z } from "zod";
import { isDomainError } from "./domain-error";

/**
 * Lifeboat's one error model (see ./domain-error, which holds ERROR_STATUS, DomainError and the checks
 * without zod) and the zod schema of its wire form. Everything outside the SQLite worker imports the
 * error model from here.
 */
export { ERROR_STATUS, DomainError, isDomainError, isErrorCode, hasErrorCode, type ErrorCode, type DomainErrorOptions, type ErrorBody } from "./domain-error";

/** The body of every 4xx/5xx answer from the agent and from the dashboard's API. */
export const ApiErrorBody = z.looseObject({ code: z.string(), message: z.string() });
export type ApiErrorBody = z.infer<typeof ApiErrorBody>;

/** The answer for an error a boundary meets: a DomainError as it is; anything else as `internal` (details only in the log). */
export function toErrorAnswer(err: unknown, internalMessage: string): { status: number; body: ApiErrorBody } {
  if (isDomainError(err)) return { status: err.status, body: err.toBody() };
  return { status: 500, body: { code: "internal", message: internalMessage } };
}

/** Describes zod issues in one line: `where: path: problem; …`. */
export function describeIssues(where: string, err: z.ZodError): string {
  return `Invalid ${where}: ${err.issues.map((i) => `${i.path.length ? i.path.join(".") + ": " : ""}${i.message}`).join("; ")}`;
}
