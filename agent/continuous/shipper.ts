import { promises as fsp } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { commitFile, fsyncPathAsync, tempPathFor } from "../../lib/storage/durable-file";
import { formatLogTime, generationKey, parseSegmentKey, segmentKey, type ContinuousStatus, type GenerationMarker } from "../../lib/contracts/continuous";
import { parseSetId } from "../../lib/contracts/backup-names";
import type { AgentDeps } from "../module";
import { readPassphrase } from "../config";
import { LogReader, rowFingerprint, type LogRead, type Standing } from "./reader";
import { fileAt, sameFile, type FileId } from "./file-id";
import { addDailyBytes, continuousDir, readPosition, writePosition, type LogPosition } from "./position";
import { judgeLogDays } from "../../lib/backups/log-anomalies";
import { formatSegment, MAX_SEGMENT_TEXT } from "./segment-format";
import { onBackupDone, takeOfferedBase } from "./base-hook";
import { datastoreLockHolder } from "../restore/lock";

/**
 * The log (issue 16): every interval, kine's rows above the last shipped revision become one
 * segment (segment-format.ts), written to a local spool first and then uploaded in order. Reading
 * goes on while the store is unreachable, so kine's compaction (which keeps the newest 1000
 * revisions) never deletes a row before it is in a segment; the spool drains in order when the store
 * is back.
 *
 * A generation is one database's unbroken history from one base (a backup set taken when it began).
 * A new one begins when the agent has none, when the revision went back, when the row at the last
 * shipped revision is another one or gone, when the file was replaced, or when kine compacted past
 * the last shipped revision (rows in between may be gone): never mixed with the one before.
 *
 * What ties the database to its generation is recorded in position.json as the generation begins and
 * with each segment: the file (device and inode), the row at the last shipped revision, and the newest
 * row at or below it that kine's compaction keeps (the anchor). A fresh process compares the database
 * with those, so a file replaced while the agent was down is seen; a break, once seen, stays recorded
 * until a new generation has begun (its base may fail: a backup already running, the store down).
 */

export interface Base {
  setId: string;
  revision: number;
  /** When its snapshot was taken (at the latest): the new generation is protected up to then. Default: the set id's time. */
  takenAt?: Date;
  /**
   * The database file its snapshot read; null when another file was put at the path while it ran;
   * absent when not known (an offer of an older version). An offered set is taken only while that file is the database.
   */
  file?: FileId | null;
}

export interface ShipperOptions {
  intervalMs: number;
  /** Takes a base backup set now (default: a backup job like the nightly one). */
  takeBase?: () => Promise<Base>;
  /**
   * The first generation takes its own base at once (tests, benchmarks). Default false: it begins at
   * the next backup set (base-hook.ts), so turning the log on starts no backup nobody asked for.
   */
  baseAtFirstStart?: boolean;
  /** Now (tests move it). */
  now?: () => Date;
  /** Tests: the bytes of rows a read takes at most (default MAX_BYTES_PER_READ, reader.ts). */
  maxReadBytes?: number;
  /** Tests: the largest segment text written (default MAX_SEGMENT_TEXT, what a restore reads). */
  maxSegmentText?: number;
}

/**
 * Why the database no longer continues the generation, or null when it does. `read` is a read after
 * pos.spooledRevision with the row at pos.spooledAnchor's revision (LogReader.read).
 */
export function generationBreak(pos: LogPosition, read: Standing): string | null {
  if (!pos.generation) return "first start: no generation yet";
  const s = pos.spooledRevision;
  if (read.file === null) return "the database file was replaced while it was read (a restore, or a new server)";
  if (pos.file && !sameFile(pos.file, read.file)) return "the database file was replaced (another inode: a restore, or a new server)";
  if (read.revision < s) return `the database was replaced: its revision went back from ${s} to ${read.revision} (a restore, or a new server)`;
  // A generation begun by an older version, before its first segment: nothing tells its database.
  if (s > 0 && !pos.spooledFingerprint)
    return `nothing recorded tells which database revision ${s} of this generation is of (a position of an older version): a new base to be sure`;
  if (read.rowAtAfter !== null && read.rowAtAfter !== pos.spooledFingerprint)
    return `the row at the last shipped revision ${s} is another one: the database was replaced`;
  // Kine's compaction up to s keeps the anchor: while it has not passed s, the anchor is there, the same row.
  const anchor = pos.spooledAnchor;
  if (anchor && read.compactRevision <= s && read.anchorRow !== anchor.fingerprint)
    return `the row at revision ${anchor.revision} (the newest kine's compaction up to the last shipped revision ${s} keeps) is ${read.anchorRow === null ? "gone" : "another one"}: the database was replaced`;
  // The row at s gone is no loss when kine compacted exactly to s and it was a tombstone (compaction
  // removes those): then the anchor, checked just above, tells the database.
  if (s > 0 && read.rowAtAfter === null && !(anchor && read.compactRevision === s))
    return `the row at the last shipped revision ${s} is gone (the database was replaced, or compaction ran past it before it was shipped)`;
  if (read.compactRevision > s)
    return `kine compacted up to revision ${read.compactRevision}, past the last shipped revision ${s}: rows in between may be lost`;
  return null;
}

/** Why set `b` cannot begin a generation on the database as it stands now, or null when it can. */
export function staleBase(b: Base, now: { revision: number; compactRevision: number; rowAtAfter: string | null }): string | null {
  if (now.revision < b.revision) return `the database's newest revision ${now.revision} is below the set's ${b.revision} (another database)`;
  if (now.compactRevision > b.revision) return `kine compacted up to revision ${now.compactRevision}, past the set's ${b.revision}`;
  if (b.revision > 0 && now.rowAtAfter === null) return `the row at the set's revision ${b.revision} is gone`;
  return null;
}

/** The default base: a backup job, as the schedule starts it; resolves with its set and revision. Rejects when the backup fails. */
async function backupAsBase(deps: AgentDeps): Promise<Base> {
  const { startBackupJob } = await import("../backup/run-backup");
  const { done } = startBackupJob(deps, { retention: false, allowNewPassphrase: false }, "schedule");
  const job = await done;
  if (job.state !== "succeeded") throw new Error(`the base backup failed: ${job.error}`);
  const result = job.result as { setId: string; manifest: { createdAt: string; database: { currentRevision: number } } };
  return { setId: result.setId, revision: result.manifest.database.currentRevision, takenAt: new Date(result.manifest.createdAt) };
}

/** Why `b` cannot begin a generation on the database `now` (the file and the row at its revision), or null when it can. */
function unfitBase(b: Base, now: Standing, file: FileId | null | undefined): string | null {
  if (file === null) return "the database file was replaced while its snapshot was taken";
  if (now.file === null) return "the database file was replaced while it was looked at";
  if (file && !sameFile(file, now.file)) return "the database file was replaced after its snapshot (another inode)";
  return staleBase(b, now);
}

/** The protection line while no backup set has become the log's first base. */
const WAITING_FOR_BASE =
  "Waiting for the first backup set as the log's base (the next scheduled one, Back up now, or a lifeboat-agent backup run on this host).";

export class LogShipper {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private pos: LogPosition;
  private readonly reader: LogReader;
  private readonly dirs: ReturnType<typeof continuousDir>;
  private readonly now: () => Date;
  private readonly log: AgentDeps["log"];
  private problem: string | null = null;
  /** Read time of the newest read after which nothing was left unshipped (idle: protected up to then). */
  private protectedAt: Date | null = null;
  private pending = 0;
  /** A backup finished and no generation runs: it is the first base (if it still fits: unfitBase). */
  private offeredBase: Base | null = null;
  private unsubscribe: (() => void) | null = null;

  constructor(
    private readonly deps: AgentDeps,
    private readonly opts: ShipperOptions,
  ) {
    this.dirs = continuousDir(deps.config.stateDir);
    this.pos = readPosition(deps.config.stateDir);
    this.reader = new LogReader(deps.config.dbPath, opts.maxReadBytes);
    this.now = opts.now ?? (() => new Date());
    this.log = deps.log.child({ component: "continuous" });
    if (this.pos.uploadedReadAt) this.protectedAt = new Date(this.pos.uploadedReadAt);
    this.unsubscribe = onBackupDone((b) => {
      if (!this.pos.generation) {
        this.offeredBase = b;
        void this.tick();
      }
    });
  }

  /** Starts shipping every interval (the first run at once). */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.tick(), this.opts.intervalMs);
    this.timer.unref();
    void this.tick();
  }

  /** Stops the timer and waits for a running tick. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.unsubscribe?.();
    await this.running;
    this.reader.close();
  }

  /** One round: drain the spool, read what is new, spool it, drain again. Never throws (the problem is kept for status()). */
  tick(): Promise<void> {
    if (!this.running) this.running = this.round().finally(() => (this.running = null));
    return this.running;
  }

  private async round(): Promise<void> {
    // A restore moves the database; the round after it sees the new one.
    if (this.deps.jobs.runningIn("datastore")) return;
    // One of another process (a CLI restore, rollback, drill or recovery) waits for no process to hold
    // the database before its swap: the connection kept open between reads must not be one.
    if (datastoreLockHolder(this.deps.config) !== null) {
      this.reader.close();
      return;
    }
    try {
      await this.cleanSpool();
      await this.drain().catch((err: unknown) => this.fail("upload", err));
      const passphrase = readPassphrase(this.deps.config);
      for (;;) {
        if (!this.pos.generation) {
          // Nothing read before the first generation could be kept, so nothing is read: a read from
          // revision 0 is up to MAX_ROWS_PER_READ rows (~40 ms of the main thread and ~20-40 MB), and an
          // idle serve waiting for its first base would make one every interval.
          if (this.opts.baseAtFirstStart) {
            await this.newGeneration("first start: no generation yet");
            return;
          }
          // This agent's own backup, or one `lifeboat-agent backup` of its own process left (base-hook.ts).
          const left = this.offeredBase ? null : takeOfferedBase(this.deps.config.stateDir);
          const base = this.offeredBase ?? left;
          this.offeredBase = null;
          if (!base) {
            this.problem = WAITING_FOR_BASE;
            return;
          }
          // A set may be old (a backup long before this serve first started), or of a database replaced
          // since (a restore after the backup): taken only while it is the database's and kine still
          // holds the rows after it, else the log waits for the next set.
          const unfit = await this.newGeneration(`first start: backup set ${base.setId} is the base`, base);
          if (unfit) {
            this.log.warn({ setId: base.setId, revision: base.revision, why: unfit }, "continuous protection: the set cannot be the log's first base");
            this.problem = WAITING_FOR_BASE;
            return;
          }
          continue;
        }
        // A break seen before, whose new base failed: tried again, never forgotten.
        if (this.pos.breakPending) {
          await this.newGeneration(this.pos.breakPending);
          return;
        }
        // Everything written before `startedAt` is in this read; every row in it was written before `readAt`.
        const startedAt = this.now();
        const read = await this.reader.read(this.pos.spooledRevision, this.pos.spooledAnchor?.revision ?? null);
        const readAt = this.now();
        const broken = generationBreak(this.pos, read);
        if (broken) {
          this.pos = { ...this.pos, breakPending: broken };
          writePosition(this.deps.config.stateDir, this.pos);
          await this.newGeneration(broken);
          return;
        }
        // A position of an older version: the file it continues is this one (checked by its rows just now).
        if (!this.pos.file && read.file) {
          this.pos = { ...this.pos, file: read.file };
          writePosition(this.deps.config.stateDir, this.pos);
        }
        if (read.rows.length === 0) {
          if (this.pending === 0) this.protectedAt = startedAt;
          break;
        }
        const tooBig = await this.spool(read, startedAt, readAt, passphrase);
        if (tooBig) {
          // One row a restore could never read back (more than ~128 MiB): the log cannot carry it, so it
          // ends before it and a new base, which holds the row, begins the next generation.
          this.pos = { ...this.pos, breakPending: tooBig };
          writePosition(this.deps.config.stateDir, this.pos);
          await this.newGeneration(tooBig);
          return;
        }
        // A read stops at MAX_ROWS_PER_READ rows or MAX_BYTES_PER_READ bytes: the next continues after its last row.
        if (!read.more) break;
      }
      if (
        await this.drain().then(
          () => true,
          (err: unknown) => (this.fail("upload", err), false),
        )
      )
        this.problem = null;
    } catch (err) {
      this.fail("read", err);
    }
  }

  private fail(stage: string, err: unknown): void {
    const msg = (err as Error)?.message ?? String(err);
    this.problem = stage === "upload" ? `Segments wait in the spool: the store did not take them (${msg}). They upload in order once it does.` : msg;
    this.log.warn({ err: msg, stage }, "continuous protection: round failed");
  }

  /**
   * Begins a generation from `given` (a set offered: resolves with why it cannot be the base, and
   * begins nothing) or from a base taken now (rejects when it fails or does not fit: the break stays
   * pending and the next round takes another). Records what ties the database to it: the file, the row
   * at the base's revision and its anchor, read after the base and checked against it.
   */
  private async newGeneration(reason: string, given?: Base): Promise<string | null> {
    if (!given) this.log.warn({ reason, previous: this.pos.generation }, "continuous protection: new generation from a new base");
    const before = this.now();
    const fileBefore = given ? given.file : fileAt(this.deps.config.dbPath);
    const base = given ?? (await (this.opts.takeBase ?? (() => backupAsBase(this.deps)))());
    const now = await this.reader.standing(base.revision);
    const unfit = unfitBase(base, now, fileBefore);
    if (unfit) {
      if (given) return unfit;
      throw new Error(`the new base ${base.setId} (revision ${base.revision}) cannot begin the generation: ${unfit}; another is taken at the next round`);
    }
    if (given) this.log.warn({ reason, previous: this.pos.generation }, "continuous protection: new generation from a new base");
    const takenAt = base.takenAt ?? parseSetId(base.setId)?.time ?? (given ? this.now() : before);
    let generation = formatLogTime(this.now());
    if (this.pos.generation && generation <= this.pos.generation) generation = formatLogTime(new Date(Date.parse(isoOf(this.pos.generation)) + 1000));
    const marker: GenerationMarker = {
      version: 1,
      generation,
      startedAt: this.now().toISOString(),
      reason,
      baseSetId: base.setId,
      baseRevision: base.revision,
      host: os.hostname(),
    };
    await this.deps.store().put(generationKey(generation), Readable.from([Buffer.from(JSON.stringify(marker, null, 1))]), { contentType: "application/json" });
    this.pos = {
      ...this.pos,
      generation,
      generationStartedAt: marker.startedAt,
      generationReason: reason,
      baseSetId: base.setId,
      baseRevision: base.revision,
      spooledRevision: base.revision,
      spooledFingerprint: now.rowAtAfter,
      spooledAnchor: now.anchor,
      spooledReadAt: takenAt.toISOString(),
      file: now.file,
      breakPending: null,
      uploadedRevision: base.revision,
      // Protected up to the base's snapshot: what was written while the base was uploaded is not shipped yet.
      uploadedReadAt: takenAt.toISOString(),
      segments: 0,
      bytes: 0,
    };
    writePosition(this.deps.config.stateDir, this.pos);
    this.protectedAt = takenAt;
    this.log.info({ generation, reason, baseSetId: base.setId, baseRevision: base.revision }, "continuous protection: generation began");
    return null;
  }

  /**
   * Writes one segment to the spool, then records it. `readAt`: when the read ended (every row in it
   * was written before; the header keeps it to the millisecond, the name rounds it up to the second:
   * segmentKey). `startedAt`: when it began (everything written before is in it: the lag's start).
   * Resolves with why nothing was spooled when the text is more than a restore reads (MAX_SEGMENT_TEXT):
   * with reads capped at MAX_BYTES_PER_READ, only a read of one row of more than ~128 MiB.
   */
  private async spool(read: LogRead, startedAt: Date, readAt: Date, passphrase: string): Promise<string | null> {
    const first = this.pos.spooledRevision + 1;
    const last = read.rows[read.rows.length - 1].id;
    const generation = this.pos.generation!;
    const sql = formatSegment({ generation, first, last, compactRevision: read.compactRevision, readAt: readAt.toISOString() }, read.rows);
    const textBytes = Buffer.byteLength(sql);
    if (textBytes > (this.opts.maxSegmentText ?? MAX_SEGMENT_TEXT)) {
      const mib = (n: number) => (n / 2 ** 20).toFixed(1);
      const rows = read.rows.length === 1 ? `the row at revision ${first}` : `revisions ${first}-${last}`;
      return `${rows} would make a log segment of ${mib(textBytes)} MiB, more than a restore reads (${mib(this.opts.maxSegmentText ?? MAX_SEGMENT_TEXT)} MiB): the log ends before it, and a new base holds it`;
    }
    // zstd and OpenPGP load with the first segment, not when `serve` starts the shipper.
    const { encodeSegment } = await import("./segment-codec");
    const bytes = await encodeSegment(sql, passphrase);
    const file = path.join(this.dirs.spool, segmentKey(generation, first, last, readAt));
    await fsp.mkdir(this.dirs.spool, { recursive: true, mode: 0o700 });
    const tmp = tempPathFor(file);
    await fsp.writeFile(tmp, bytes, { mode: 0o600 });
    await commitFile(tmp, file);
    const lastRow = read.rows[read.rows.length - 1];
    this.pos = {
      ...this.pos,
      spooledRevision: last,
      spooledFingerprint: rowFingerprint(lastRow),
      spooledAnchor: read.anchor,
      spooledReadAt: startedAt.toISOString(),
    };
    writePosition(this.deps.config.stateDir, this.pos);
    this.pending++;
    return null;
  }

  /** Spool files in name order (generation, then revision). */
  private async spoolFiles(): Promise<string[]> {
    const names = await fsp.readdir(this.dirs.spool).catch(() => [] as string[]);
    return names.filter((n) => parseSegmentKey(n)).sort();
  }

  /** Removes spool files that were never recorded (a crash after writing one, before the position). */
  private async cleanSpool(): Promise<void> {
    for (const name of await this.spoolFiles()) {
      const seg = parseSegmentKey(name)!;
      if (seg.generation === this.pos.generation && seg.last > this.pos.spooledRevision) {
        await fsp.rm(path.join(this.dirs.spool, name), { force: true });
        this.log.info({ segment: name }, "continuous protection: dropped a segment read before a crash; its rows are read again");
      }
    }
    this.pending = (await this.spoolFiles()).length;
  }

  /** Uploads spool files in order; each is recorded, then removed. Rejects at the first failed upload (the rest wait). */
  private async drain(): Promise<void> {
    const store = this.deps.store();
    for (const name of await this.spoolFiles()) {
      const file = path.join(this.dirs.spool, name);
      const body = await fsp.readFile(file);
      await store.put(name, Readable.from([body]), { contentType: "application/octet-stream" });
      const seg = parseSegmentKey(name)!;
      const ours = seg.generation === this.pos.generation;
      // Protected up to the start of its read (recorded for the newest segment spooled; the others carry
      // the second their read ended, in their name).
      const protectedAt = ours && seg.last === this.pos.spooledRevision && this.pos.spooledReadAt ? new Date(this.pos.spooledReadAt) : seg.readAt;
      if (ours && seg.last > this.pos.uploadedRevision) {
        this.pos = {
          ...this.pos,
          uploadedRevision: seg.last,
          uploadedReadAt: protectedAt.toISOString(),
          segments: this.pos.segments + 1,
          bytes: this.pos.bytes + body.length,
          // By the day its rows were read: a spool drained after an outage counts where its rows belong.
          dailyBytes: addDailyBytes(this.pos.dailyBytes, seg.generation, seg.readAt, body.length),
        };
        writePosition(this.deps.config.stateDir, this.pos);
      }
      await fsp.rm(file);
      await fsyncPathAsync(this.dirs.spool);
      this.pending = Math.max(0, this.pending - 1);
      if (this.pending === 0 && ours) this.protectedAt = protectedAt;
    }
  }

  /** The protection line for GET /continuous and /health. */
  status(): ContinuousStatus {
    const p = this.pos;
    const at = this.protectedAt;
    const daily = judgeLogDays(p.dailyBytes, { generation: p.generation, generationStartedAt: p.generationStartedAt, now: this.now() });
    return {
      enabled: true,
      problem: this.problem,
      intervalSeconds: Math.round(this.opts.intervalMs / 1000),
      generation: p.generation,
      generationReason: p.generationReason,
      baseSetId: p.baseSetId,
      shippedRevision: p.generation ? p.uploadedRevision : null,
      shippedAt: at ? at.toISOString() : null,
      lagSeconds: at ? Math.max(0, (this.now().getTime() - at.getTime()) / 1000) : null,
      segments: p.segments,
      bytes: p.bytes,
      pendingSegments: this.pending,
      dailyBytes: daily.days,
      dailyAnomalies: daily.current,
    };
  }

  /** The recorded position (tests). */
  position(): LogPosition {
    return this.pos;
  }
}

/** `YYYYMMDDTHHMMSSZ` → ISO. */
function isoOf(gen: string): string {
  return `${gen.slice(0, 4)}-${gen.slice(4, 6)}-${gen.slice(6, 8)}T${gen.slice(9, 11)}:${gen.slice(11, 13)}:${gen.slice(13, 15)}Z`;
}
