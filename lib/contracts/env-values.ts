import { z } from "zod";

/**
 * How the dashboard's settings (lib/env.ts) and the agent's (agent/config.ts) read a variable's
 * text: an empty value (`PORT=` or `LIFEBOAT_KEEP_LAST=` in an env file) is unset, so it takes the
 * default rather than Number("") = 0 (a random port, keep nothing), a schedule of "" or a directory
 * of "" (the working directory).
 */

/** `schema` with an empty or blank value read as unset (its default applies). */
export const orDefault = <T extends z.ZodType>(schema: T) => z.preprocess((v) => (typeof v === "string" && v.trim() === "" ? undefined : v), schema);

/** An optional text, trimmed; empty or blank is unset. */
export const optStr = z
  .string()
  .optional()
  .transform((v) => (v && v.trim() !== "" ? v.trim() : undefined));
