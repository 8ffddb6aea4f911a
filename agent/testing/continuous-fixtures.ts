import Database from "better-sqlite3";
import { listAll, type BackupStore } from "../../lib/storage/backup-store";
import { parseSegmentKey, type SegmentName } from "../../lib/contracts/continuous";

/** Helpers for the continuous-protection tests and benchmark: the database as rows, and the log as the store holds it. */

/** Every kine row (values as hex with their SQLite type), sqlite_sequence, and compact_rev_key's revision. */
export function dumpKine(dbPath: string): { rows: string[]; sequence: number; compactRevision: number; revision: number } {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    const rows = db
      .prepare(
        "SELECT id, name, created, deleted, create_revision, prev_revision, lease, typeof(value) || ':' || IFNULL(hex(value),''), typeof(old_value) || ':' || IFNULL(hex(old_value),'') FROM kine ORDER BY id",
      )
      .raw()
      .all()
      .map((r) => JSON.stringify(r));
    const sequence = (db.prepare("SELECT IFNULL(MAX(seq),0) FROM sqlite_sequence WHERE name = 'kine'").pluck().get() as number) ?? 0;
    const compactRevision = (db.prepare("SELECT IFNULL(MAX(prev_revision),0) FROM kine WHERE name = 'compact_rev_key'").pluck().get() as number) ?? 0;
    const revision = (db.prepare("SELECT IFNULL(MAX(id),0) FROM kine").pluck().get() as number) ?? 0;
    return { rows, sequence, compactRevision, revision };
  } finally {
    db.close();
  }
}

/**
 * Runs kine's compaction (KINE.md: dead versions and tombstones up to `rev`, then compact_rev_key)
 * on `dbPath`. A compaction that ran after the newest revision changed no revision, so the log has
 * nothing to ship for it: tests use this to compare a restore with a live copy taken after one.
 */
export function compactKine(dbPath: string, rev: number): void {
  const db = new Database(dbPath, { fileMustExist: true });
  try {
    db.transaction(() => {
      db.prepare(
        `DELETE FROM kine AS kv WHERE kv.id IN (
           SELECT kp.prev_revision AS id FROM kine AS kp WHERE kp.name != 'compact_rev_key' AND kp.prev_revision != 0 AND kp.id <= ?
           UNION SELECT kd.id AS id FROM kine AS kd WHERE kd.deleted != 0 AND kd.id <= ?)`,
      ).run(rev, rev);
      db.prepare("UPDATE kine SET prev_revision = ? WHERE name = 'compact_rev_key'").run(rev);
    })();
  } finally {
    db.close();
  }
}

/** A consistent copy of a live database (one-step backup: a writer may be paused, not stopped). */
export async function copyLive(dbPath: string, dest: string): Promise<void> {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    await db.backup(dest, { progress: () => 0x7fffffff });
  } finally {
    db.close();
  }
}

/** The store's segments, by revision. */
export async function storedSegments(store: BackupStore): Promise<(SegmentName & { size: number })[]> {
  const out: (SegmentName & { size: number })[] = [];
  for await (const o of listAll(store, { prefix: "lifeboat-log_" })) {
    const s = parseSegmentKey(o.key);
    if (s) out.push({ ...s, size: o.size });
  }
  return out.sort((a, b) => a.generation.localeCompare(b.generation) || a.first - b.first);
}

/** Where a generation's segments are not one unbroken run of revisions (gaps and overlaps), as sentences; empty when none. */
export function logProblems(segments: SegmentName[], from: number): string[] {
  const problems: string[] = [];
  let next = from + 1;
  for (const s of segments) {
    if (s.first !== next) problems.push(`${s.key}: starts at ${s.first}, expected ${next}`);
    next = s.last + 1;
  }
  return problems;
}

/** The environment of a `serve` on loopback shipping the log to a bucket "backups" of s3rver under `prefix` (plain HTTP, s3rver's keys). */
export function shippingServeEnv(endpoint: string, prefix: string, token: string, intervalSeconds: string): Record<string, string> {
  return {
    AWS_S3_ENDPOINT: endpoint,
    AWS_S3_BUCKET: "backups",
    AWS_S3_PATH: prefix,
    AWS_ACCESS_KEY_ID: "S3RVER",
    AWS_SECRET_ACCESS_KEY: "S3RVER",
    LIFEBOAT_AGENT_TOKEN: token,
    LIFEBOAT_AGENT_HOST: "127.0.0.1",
    LIFEBOAT_AGENT_PORT: "0",
    LIFEBOAT_AGENT_INSECURE_HTTP: "true",
    LIFEBOAT_LOG_INTERVAL_SECONDS: intervalSeconds,
  };
}

/**
 * With the writer process paused: ticks `shipper` until everything it read is uploaded, then runs
 * `then` (still paused), then resumes the writer. Two rounds are enough on a quiet machine; under
 * load an upload can fail and wait in the spool for the next round (which retries it, in order), so
 * this keeps ticking — up to `timeoutMs`, then fails naming the shipper's problem.
 */
export async function withShippedWhilePaused<T>(
  writer: { process: { kill(signal: NodeJS.Signals): boolean } },
  shipper: { tick(): Promise<void>; status(): { pendingSegments: number; problem: string | null } },
  then: () => Promise<T>,
  timeoutMs = 60_000,
): Promise<T> {
  writer.process.kill("SIGSTOP");
  try {
    await shipper.tick(); // a round that began before the pause
    await shipper.tick();
    const deadline = Date.now() + timeoutMs;
    while (shipper.status().pendingSegments > 0) {
      if (Date.now() > deadline)
        throw new Error(`segments still wait in the spool after ${timeoutMs} ms: ${shipper.status().problem ?? "no problem reported"}`);
      await new Promise((r) => setTimeout(r, 250));
      await shipper.tick();
    }
    return await then();
  } finally {
    writer.process.kill("SIGCONT");
  }
}
