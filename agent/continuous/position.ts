import { mkdirSync, readFileSync } from "node:fs";
import { z } from "zod";
import { writeFileDurable } from "../../lib/storage/durable-file";
import { utcDay, type RecordedLogDay } from "../../lib/backups/log-anomalies";
import { continuousDir } from "./continuous-dir";

/**
 * Where the log stands, in `<state dir>/continuous/position.json`, replaced durably after every step
 * (lib/storage/durable-file.ts). Order: a segment is written to the spool, then `spooled` is recorded;
 * it is uploaded, then `uploaded` is recorded and the spool file removed. A crash between any two
 * steps repeats the later one with the same bytes under the same name: no gap, no duplicate.
 */
/** Which file the database is (file-id.ts). */
const FileIdSchema = z.object({ dev: z.number(), ino: z.number() });

export const LogPosition = z.object({
  version: z.literal(1),
  generation: z.string().nullable(),
  generationStartedAt: z.string().nullable(),
  generationReason: z.string().nullable(),
  baseSetId: z.string().nullable(),
  baseRevision: z.number().int().nonnegative(),
  /** The newest revision written to a spool file (or the base's revision), and its row's fingerprint. */
  spooledRevision: z.number().int().nonnegative(),
  spooledFingerprint: z.string().nullable(),
  /**
   * The newest row at or below spooledRevision that kine's compaction to spooledRevision keeps (not a
   * tombstone, not superseded), and its fingerprint: while kine's compact revision is at or below
   * spooledRevision it is there, unchanged, in this database. It tells a replaced database when the row
   * at spooledRevision was a tombstone that kine's compaction to exactly spooledRevision removed.
   * Null: none, or a position written before the field.
   */
  spooledAnchor: z.object({ revision: z.number().int().nonnegative(), fingerprint: z.string() }).nullable().default(null),
  /** When the read of the newest spooled segment began: everything written before then was in it (the lag's start). */
  spooledReadAt: z.string().nullable().default(null),
  /** The database file the generation is of (null: a position written before the field; taken at the next read that continues it). */
  file: FileIdSchema.nullable().default(null),
  /**
   * Why the database no longer continues the generation, once seen and until a new generation has
   * begun: a failed base (a backup already running, the store down) is tried again, never forgotten.
   */
  breakPending: z.string().nullable().default(null),
  /** The newest revision uploaded, and when it was read. */
  uploadedRevision: z.number().int().nonnegative(),
  uploadedReadAt: z.string().nullable(),
  segments: z.number().int().nonnegative(),
  bytes: z.number().int().nonnegative(),
  /**
   * Bytes uploaded per generation and UTC day (the day the segment's rows were read), recorded with
   * the upload — not taken from the store's listing, where compaction shrinks old days. The newest
   * DAILY_KEEP_DAYS days; a position written before this field loads with none.
   */
  dailyBytes: z
    .array(z.object({ generation: z.string(), day: z.string(), bytes: z.number().int().nonnegative(), segments: z.number().int().nonnegative() }))
    .default([]),
});
export type LogPosition = z.infer<typeof LogPosition>;

export const EMPTY_POSITION: LogPosition = {
  version: 1,
  generation: null,
  generationStartedAt: null,
  generationReason: null,
  baseSetId: null,
  baseRevision: 0,
  spooledRevision: 0,
  spooledFingerprint: null,
  spooledAnchor: null,
  spooledReadAt: null,
  file: null,
  breakPending: null,
  uploadedRevision: 0,
  uploadedReadAt: null,
  segments: 0,
  bytes: 0,
  dailyBytes: [],
};

/** Days of bytes kept in the position: enough for the 7-day window with room for gaps. */
export const DAILY_KEEP_DAYS = 30;

/** The series with one upload added to its generation's day (pure): days older than DAILY_KEEP_DAYS before that day are dropped. */
export function addDailyBytes(series: readonly RecordedLogDay[], generation: string, readAt: Date, bytes: number): RecordedLogDay[] {
  const day = utcDay(readAt);
  const oldest = utcDay(new Date(Date.parse(`${day}T00:00:00Z`) - (DAILY_KEEP_DAYS - 1) * 86_400_000));
  let found = false;
  const out = series.flatMap((d) => {
    if (d.day < oldest) return [];
    if (d.generation !== generation || d.day !== day) return [d];
    found = true;
    return [{ ...d, bytes: d.bytes + bytes, segments: d.segments + 1 }];
  });
  if (!found) out.push({ generation, day, bytes, segments: 1 });
  return out;
}

export { continuousDir } from "./continuous-dir";

/** Reads the position; the empty one when there is none yet. Throws when the file is there but unreadable or malformed. */
export function readPosition(stateDir: string): LogPosition {
  const { position } = continuousDir(stateDir);
  let text: string;
  try {
    text = readFileSync(position, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return { ...EMPTY_POSITION };
    throw err;
  }
  return LogPosition.parse(JSON.parse(text));
}

/** Records the position durably. Throws on I/O errors (the previous position then stays). */
export function writePosition(stateDir: string, pos: LogPosition): void {
  const { spool, position } = continuousDir(stateDir);
  mkdirSync(spool, { recursive: true, mode: 0o700 });
  writeFileDurable(position, JSON.stringify(pos, null, 1) + "\n");
}
