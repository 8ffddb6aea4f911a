import { lstatSync, promises as fsp, readlinkSync, realpathSync } from "node:fs";
import path from "node:path";
import { makeStaging, removeStaging, takeSnapshot } from "../backup/snapshot";
import { readPassphrase } from "../config";
import { runOffThread, startSqliteChecker } from "../sqlite/worker";
import { RestoreFailure } from "./errors";
import type { ExtraName } from "./journal";
import { crashPoint } from "./lock";
import { restoresRoot } from "./paths";
import { type Ctx, beginStep, mb, setPhase, stepDetail } from "./restore-job";
import { resolveSource } from "./sources";
import { stageBackup, type StageOptions } from "./stage";
import { verifyStaged } from "./verify";
import type { SegmentName } from "../../lib/contracts/continuous";

/**
 * A point in time (docs/continuous.md): the base the log plan picks, staged by the same stager, then
 * brought forward with the log. Throws NoLogPointError, LogDamagedError, or what staging throws.
 */
async function stageAtPoint(ctx: Ctx, setId: string, opts: Omit<StageOptions, "passphrase">) {
  const { planPoint } = await import("../continuous/point-in-time");
  const { stagePoint } = await import("../continuous/stage-point");
  const { j } = ctx;
  const point = j.point!;
  const plan = await planPoint(ctx.deps, setId, point.toRevision !== null ? { toRevision: point.toRevision } : { toTime: point.toTime! });
  j.sourceDescription = `backup set ${plan.baseSetId} and the log of generation ${plan.generation} to revision ${plan.target}`;
  const { staged, applied } = await stagePoint(ctx.deps, plan, opts);
  const { readAt, subject } = pointTime(plan, applied);
  j.point = { ...point, generation: plan.generation, baseSetId: plan.baseSetId, revision: applied.revision, readAt, segmentsApplied: applied.segmentsApplied };
  j.takenAt = readAt;
  const earlier = plan.foldedAfter
    ? `No point between ${readAt ?? `the base set ${plan.baseSetId}`} and ${point.toTime} can be restored: log compaction folded revisions ${plan.foldedAfter.first}–${plan.foldedAfter.last} into one object (${plan.foldedAfter.key}), which restores only as a whole, up to ${plan.foldedAfter.readAt}. This restore ends before them, at revision ${applied.revision}.`
    : null;
  return { staged, takenAt: readAt ? new Date(readAt) : null, subject, earlier };
}

/**
 * When the point restored was the live database, and the diff's subject that says so. A read time names
 * it only when it ends where a segment read then ends; a revision inside a segment was written after the
 * read before it (the time applied.readAt holds) and by that segment's read, so it is named by both. The
 * base itself (no segment applied) has no read time of its own: named by its revision alone.
 */
export function pointTime(
  plan: { segments: SegmentName[]; targetReadAt: string | null; baseRevision: number },
  applied: { revision: number; readAt: string | null },
): { readAt: string | null; subject: string } {
  const hms = (iso: string) => iso.slice(11, 19);
  const inside = applied.revision > plan.baseRevision && plan.segments.find((s) => s.first <= applied.revision && applied.revision < s.last);
  if (inside) {
    const after = applied.readAt ? `${hms(applied.readAt)} and ` : "the base and ";
    return { readAt: null, subject: `Restoring to a point between ${after}${hms(inside.readAt.toISOString())} UTC (revision ${applied.revision})` };
  }
  const readAt = applied.readAt ?? plan.targetReadAt;
  return { readAt, subject: readAt ? `Restoring to ${hms(readAt)} UTC (revision ${applied.revision})` : `Restoring to revision ${applied.revision}` };
}

/**
 * The first half of a restore, and all of a drill: download and unpack the backup into the staging
 * directory, then verify it (integrity_check, kine's shape, the token that must open its bootstrap
 * data) and, when asked, compare it with the live database. Nothing on the server changes.
 * Throws RestoreFailure (verification failed), StageError, or what resolving the source throws.
 */
export async function stageAndVerify(ctx: Ctx): Promise<void> {
  const { cfg, j, job } = ctx;
  beginStep(ctx, "stage");
  setPhase(ctx, "staging");
  await fsp.mkdir(j.stagingDir, { recursive: true, mode: 0o700 });
  // The verify step's worker starts now and is ready when staging ends.
  const checker = startSqliteChecker();
  const stageOpts = {
    stagingDir: j.stagingDir,
    maxBytes: cfg.restoreMaxBytes,
    durable: j.kind === "restore",
    signal: job.signal,
    onProgress: (done: number, total: number | null) => {
      job.progress(done, total);
      j.bytesStaged = done;
    },
  };
  const { staged, takenAt, subject, earlier } = await (
    j.point && j.source.kind === "backup"
      ? stageAtPoint(ctx, j.source.setId, stageOpts)
      : (async () => {
          const src = await resolveSource(ctx.deps, j.source);
          j.sourceDescription = src.description;
          j.takenAt = src.takenAt?.toISOString() ?? null;
          const staged = await stageBackup(src, { ...stageOpts, passphrase: () => readPassphrase(cfg) });
          return { staged, takenAt: src.takenAt, subject: "Restoring this backup", earlier: null };
        })()
  ).catch((err: unknown) => {
    checker.dispose();
    throw err;
  });
  j.bytesStaged = staged.bytesRead;
  const dbBytes = (await fsp.stat(staged.dbPath)).size;
  stepDetail(
    ctx,
    "stage",
    `${mb(staged.bytesRead)} read; state.db ${mb(dbBytes)}${j.point ? ` (brought forward with ${j.point.segmentsApplied} log segments to revision ${j.point.revision})` : ""}${staged.walReplayed ? " (its WAL replayed)" : ""}${staged.tokenPath ? ", token" : ""}${staged.credDir ? ", cred/" : ""}${staged.tlsDir ? ", tls/" : ""}`,
  );
  setPhase(ctx, "staged");
  crashPoint("staged");

  beginStep(ctx, "verify");
  setPhase(ctx, "verifying");
  // integrity_check reports no progress of its own; while its worker runs, the job is not stalled.
  const busy = setInterval(() => job.touch(), 1000);
  const { verification, ok, failure } = await verifyStaged(staged, { hostTokenPath: cfg.tokenPath, useArchiveToken: j.include.token, checker }).finally(() => {
    clearInterval(busy);
    checker.dispose();
  });
  if (earlier) verification.warnings.push(earlier);
  j.verification = verification;
  if (!ok) throw new RestoreFailure(failure!);
  const extras: ExtraName[] = [];
  // The token put in place is the one verification checked: the backup's only when it was that one.
  if (j.include.token && staged.tokenPath && verification.token.source === "archive") extras.push("token");
  if (j.include.cred) {
    if (staged.credDir) extras.push("cred");
    else verification.warnings.push("cred/ was chosen but the backup holds none; the host's cred/ stays.");
  }
  if (j.include.tls) {
    if (staged.tlsDir) extras.push("tls");
    else verification.warnings.push("tls/ was chosen but the backup holds none; the host's tls/ stays.");
  }
  j.extras = extras;
  const linked = linkedDbDir(cfg.serverDir);
  if (linked) verification.warnings.push(linked);
  if (j.compareWithLive) {
    const tmp = await makeStaging(path.join(restoresRoot(cfg), ".compare"), j.id).catch(() => null);
    try {
      if (!tmp) throw new Error("no room for a copy");
      const snap = await takeSnapshot(cfg.dbPath, tmp);
      job.touch();
      j.diff = await runOffThread({
        kind: "diff",
        currentFile: snap.path,
        candidateFile: staged.dbPath,
        opts: {
          currentLabel: "live database",
          candidateLabel: j.sourceDescription,
          candidateTakenAt: takenAt?.toISOString() ?? null,
          subject,
        },
      });
    } catch (err) {
      j.diffError = `The live database could not be read for a comparison (${(err as Error).message.replace(/\.$/, "")}), so what restoring loses is unknown.`;
    } finally {
      if (tmp) await removeStaging(tmp);
    }
  }
  const st = verification.stats;
  stepDetail(
    ctx,
    "verify",
    `integrity_check ok; ${st ? `revision ${st.currentRevision}, ${st.rowCount} rows` : "statistics unavailable"}; token ${verification.token.source === "archive" ? "from the backup" : "on the host"} fits`,
  );
  setPhase(ctx, "verified");
  crashPoint("verified");
}

/**
 * The warning for a db/ that is a symlink (a datastore moved to another disk and linked back): the
 * swap renames the link aside, its target untouched, and puts the restored db/ in the server
 * directory, on that directory's disk. Null for a plain db/ (or none).
 */
export function linkedDbDir(serverDir: string): string | null {
  const db = path.join(serverDir, "db");
  try {
    if (!lstatSync(db).isSymbolicLink()) return null;
  } catch {
    return null;
  }
  let target: string;
  try {
    target = realpathSync(db);
  } catch {
    target = `${readlinkSync(db)} (which does not resolve)`;
  }
  return `${db} is a link to ${target}. The restore moves the link aside (the database it points at stays there, untouched) and puts the restored db/ in ${serverDir}, on that directory's disk, not on ${target}'s. To keep the datastore on the other disk, after the restore stop k3s, move ${db} there and link it again.`;
}
