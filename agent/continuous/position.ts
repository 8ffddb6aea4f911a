import { mkdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { z } from "zod";
import { writeFileDurable } from "../../lib/storage/durable-file";

/**
 * Where the log stands, in `<state dir>/continuous/position.json`, replaced durably after every step
 * (lib/storage/durable-file.ts). Order: a segment is written to the spool, then `spooled` is recorded;
 * it is uploaded, then `uploaded` is recorded and the spool file removed. A crash between any two
 * steps repeats the later one with the same bytes under the same name: no gap, no duplicate.
 */
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
  /** The newest revision uploaded, and when it was read. */
  uploadedRevision: z.number().int().nonnegative(),
  uploadedReadAt: z.string().nullable(),
  segments: z.number().int().nonnegative(),
  bytes: z.number().int().nonnegative(),
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
  uploadedRevision: 0,
  uploadedReadAt: null,
  segments: 0,
  bytes: 0,
};

/** The continuous-protection directory under the state dir (0700), with its spool. */
export function continuousDir(stateDir: string): { dir: string; spool: string; position: string; compaction: string } {
  const dir = path.join(stateDir, "continuous");
  return { dir, spool: path.join(dir, "spool"), position: path.join(dir, "position.json"), compaction: path.join(dir, "compaction") };
}

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
