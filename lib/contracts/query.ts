import { z } from "zod";

/**
 * A whole number in a query string (`?limit=50`), from `min` to `max`: decimal digits only. z.coerce
 * took anything Number() takes, so `?limit=0x10` was 16, `?limit=1e3` 1000, and an empty
 * `?offset=` (or a space) 0, answered as if asked; those are refused with 400 instead.
 */
export function queryInt(min: number, max: number) {
  return z
    .string()
    .regex(/^\d{1,15}$/, { message: "must be a whole number, in digits" })
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));
}
