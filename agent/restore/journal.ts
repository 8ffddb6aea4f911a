import { existsSync, promises as fsp, readFileSync } from "node:fs";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { formatStamp } from "../../lib/contracts/backup-names";
import {
  type RestorePoint,
  type DatabaseDiff,
  type RestoreInclude,
  type RestoreRecord,
  type RestoreSource,
  type RestoreStatus,
  type RestoreStep,
  type RestoreVerification,
} from "../../lib/contracts/agent-restore";
import { fsyncPath, writeFileDurable } from "../../lib/storage/durable-file";
import type { AgentConfig } from "../config";
import { RestoreNotFoundError } from "./errors";
import { restoresRoot } from "./paths";
import { stepLabel, stepsOf } from "./steps";

/**
 * The on-disk journal of one restore: `<LIFEBOAT_STATE_DIR>/restores/<id>/journal.json`, rewritten
 * atomically (temporary file, fsync, rename, fsync of the directory) before and after every step
 * that changes the server. A restarted agent reads it to finish or undo an interrupted restore; the
 * dashboard reads it (GET /restores/:id) to show where a restore stands.
 */

/** Phases in order. Everything before "swap:begin" leaves the server's files untouched. */
export const PHASES = [
  "created",
  "staging",
  "staged",
  "verifying",
  "verified",
  "stopping",
  "stopped",
  "swap:begin",
  "swap:moved-aside",
  "swap:moved-in",
  "swapped",
  "ownership",
  "owned",
  "starting",
  "started",
  "checking",
  "checked",
] as const;
export type Phase = (typeof PHASES)[number];

export const ROLLBACK_PHASES = ["rollback:begin", "rollback:stopped", "rollback:moved", "rollback:owned", "rollback:started", "rollback:checked"] as const;
export type RollbackPhase = (typeof ROLLBACK_PHASES)[number];

/** Where `phase` is in PHASES: comparing two says which came first. */
export function phaseIndex(phase: Phase): number {
  return PHASES.indexOf(phase);
}

/** True once the swap may have touched the server's files. */
export function pastSwapBegin(phase: Phase): boolean {
  return phaseIndex(phase) >= phaseIndex("swap:begin");
}

export type ExtraName = "token" | "cred" | "tls";

export interface RestoreJournal {
  version: 1;
  id: string;
  kind: "restore" | "drill";
  createdAt: string;
  updatedAt: string;
  source: RestoreSource;
  sourceDescription: string;
  takenAt: string | null;
  include: RestoreInclude;
  autoConfirm: boolean;
  compareWithLive: boolean;
  /** A point-in-time restore (journals before issue 16 lack it). */
  point?: RestorePoint | null;
  status: RestoreStatus;
  phase: Phase;
  steps: RestoreStep[];
  bytesStaged: number;
  stagingDir: string;
  serverDir: string;
  /** Stamp used in the names of moved-aside files (chosen when the swap begins). */
  swapStamp: string | null;
  asideDir: string | null;
  /** Files beside db/ the swap puts in place (decided by verify from what was staged and chosen). */
  extras: ExtraName[];
  /** Where the swap moved the previous token/cred/tls. */
  extraAsides: Partial<Record<ExtraName, string>>;
  /** The stop command ran (so an interrupted restore must start k3s again). */
  k3sStopped: boolean;
  verification: RestoreVerification | null;
  diff: DatabaseDiff | null;
  diffError: string | null;
  after: RestoreRecord["after"];
  error: string | null;
  done: boolean;
  jobId: string | null;
  rollback: { phase: RollbackPhase; stamp: string; restoredAside: string; extraRolled: Partial<Record<ExtraName, string>> } | null;
  /** Every phase change with its time: the audit trail of this restore. */
  history: { at: string; phase: string; note?: string }[];
}

/** The directory of restore `id`. Throws RestoreNotFoundError when `id` cannot be one. */
export function journalDir(cfg: Pick<AgentConfig, "stateDir">, id: string): string {
  if (!/^[A-Za-z0-9_.-]+$/.test(id) || id.startsWith(".")) throw new RestoreNotFoundError(id);
  return path.join(restoresRoot(cfg), id);
}
function journalFile(cfg: Pick<AgentConfig, "stateDir">, id: string): string {
  return path.join(journalDir(cfg, id), "journal.json");
}

export function newRestoreId(now = new Date()): string {
  return `${formatStamp(now)}-${randomBytes(3).toString("hex")}`;
}

/** Writes the journal atomically and durably. Throws on I/O errors (the restore must not go on blind). */
export function saveJournal(cfg: Pick<AgentConfig, "stateDir">, j: RestoreJournal): void {
  j.updatedAt = new Date().toISOString();
  // A drill changes nothing on the server, so its record need not survive a power cut (the rename
  // still makes every save whole); the two fsyncs cost ~12 ms a save here, ten saves a drill.
  const durable = j.kind !== "drill";
  const file = journalFile(cfg, j.id);
  const first = durable && !existsSync(file);
  writeFileDurable(file, JSON.stringify(j, null, 2), { fsync: durable });
  // The journal's directory is new, and maybe restores/ and the state dir too: their names must
  // survive a power cut as well, or a restarted agent finds no journal (durability.test.ts).
  const top = path.dirname(path.resolve(cfg.stateDir));
  if (first) for (let d = path.dirname(file); d !== top && d !== path.dirname(d); d = path.dirname(d)) fsyncPath(path.dirname(d));
}

/** Reads one journal; null when there is none. Throws when it exists but cannot be parsed. */
export function loadJournal(cfg: Pick<AgentConfig, "stateDir">, id: string): RestoreJournal | null {
  let text: string;
  try {
    text = readFileSync(journalFile(cfg, id), "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw err;
  }
  return JSON.parse(text) as RestoreJournal;
}

/** Every journal, newest first. Unreadable ones are skipped. */
export async function listJournals(cfg: Pick<AgentConfig, "stateDir">): Promise<RestoreJournal[]> {
  const names = await fsp.readdir(restoresRoot(cfg)).catch(() => [] as string[]);
  const out: RestoreJournal[] = [];
  for (const name of names) {
    if (name.startsWith(".")) continue;
    try {
      const j = loadJournal(cfg, name);
      if (j) out.push(j);
    } catch {
      // a half-written directory from a crash before the first save: nothing to report
    }
  }
  return out.sort((a, b) => b.createdAt.localeCompare(a.createdAt) || b.id.localeCompare(a.id));
}

/** A restore that is running, waiting for confirmation, or was interrupted (at most one matters). */
export async function findPendingRestore(cfg: Pick<AgentConfig, "stateDir">): Promise<RestoreJournal | null> {
  for (const j of await listJournals(cfg))
    if (j.kind === "restore" && (j.status === "running" || j.status === "awaiting-confirmation" || j.status === "rolling-back")) return j;
  return null;
}

/** A fresh journal (not yet saved). */
export function createJournal(opts: {
  id: string;
  kind: "restore" | "drill";
  source: RestoreSource;
  sourceDescription: string;
  takenAt: Date | null;
  include: RestoreInclude;
  autoConfirm: boolean;
  compareWithLive: boolean;
  point?: RestorePoint | null;
  stagingDir: string;
  serverDir: string;
}): RestoreJournal {
  const now = new Date().toISOString();
  return {
    version: 1,
    id: opts.id,
    kind: opts.kind,
    createdAt: now,
    updatedAt: now,
    source: opts.source,
    sourceDescription: opts.sourceDescription,
    takenAt: opts.takenAt?.toISOString() ?? null,
    include: opts.include,
    autoConfirm: opts.autoConfirm,
    compareWithLive: opts.compareWithLive,
    point: opts.point ?? null,
    status: "running",
    phase: "created",
    steps: stepsOf(opts.kind).map((name) => ({ name, label: stepLabel(name), state: "pending", startedAt: null, finishedAt: null, detail: null })),
    bytesStaged: 0,
    stagingDir: opts.stagingDir,
    serverDir: opts.serverDir,
    swapStamp: null,
    asideDir: null,
    extras: [],
    extraAsides: {},
    k3sStopped: false,
    verification: null,
    diff: null,
    diffError: null,
    after: null,
    error: null,
    done: false,
    jobId: null,
    rollback: null,
    history: [{ at: now, phase: "created" }],
  };
}

/** What the server's files are now, in one sentence. */
export function describeTarget(j: RestoreJournal): string {
  const aside = j.asideDir ? ` The previous database is kept in ${j.asideDir}.` : "";
  if (j.status === "rolled-back") return `The previous database is back in place; the restored one is kept in ${j.rollback?.restoredAside}.`;
  if (j.status === "rolling-back") return `A rollback is under way (${j.rollback?.phase}); the agent finishes it when it restarts.${aside}`;
  if (j.status === "cancelled") return "Nothing on the server changed; the staged files were removed.";
  if (!pastSwapBegin(j.phase)) {
    if (j.k3sStopped && (j.status === "running" || j.phase === "stopping" || j.phase === "stopped"))
      return "Nothing on the server changed, but k3s was stopped.";
    return "Nothing on the server changed.";
  }
  if (j.status === "succeeded") return `The restored database is in place and k3s was started.${aside}`;
  if (j.status === "running") return `The restore is past the point of no return (${j.phase}); the agent finishes it, also after a restart.${aside}`;
  if (PHASES.indexOf(j.phase) < PHASES.indexOf("swapped")) return `The swap was interrupted (${j.phase}); the agent completes it when it runs again.${aside}`;
  return `The restored database is in place, but the restore did not finish (${j.phase}).${aside} Roll back to put the previous one back, or fix the cause and start k3s.`;
}

/** The API view of a journal. */
export function toRecord(j: RestoreJournal, opts: { stagingExists: boolean }): RestoreRecord {
  const preSwap = !pastSwapBegin(j.phase);
  return {
    id: j.id,
    kind: j.kind,
    createdAt: j.createdAt,
    updatedAt: j.updatedAt,
    source: j.source,
    sourceDescription: j.sourceDescription,
    include: j.include,
    status: j.status,
    phase: j.rollback && (j.status === "rolling-back" || j.status === "rolled-back") ? j.rollback.phase : j.phase,
    steps: j.steps,
    bytesStaged: j.bytesStaged,
    verification: j.verification,
    diff: j.diff,
    diffError: j.diffError,
    asideDir: j.asideDir,
    point: j.point ?? null,
    after: j.after,
    error: j.error,
    targetState: describeTarget(j),
    canConfirm:
      j.kind === "restore" && opts.stagingExists && j.verification !== null && preSwap && (j.status === "awaiting-confirmation" || j.status === "failed"),
    canCancel: j.kind === "restore" && preSwap && (j.status === "awaiting-confirmation" || (j.status === "failed" && opts.stagingExists)),
    canRollback: j.kind === "restore" && !j.done && j.asideDir !== null && !preSwap && (j.status === "succeeded" || j.status === "failed"),
    canMarkDone: j.kind === "restore" && !j.done && j.status === "succeeded",
    done: j.done,
    jobId: j.jobId,
  };
}
