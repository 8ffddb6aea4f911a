import { execFile } from "node:child_process";
import { constants as fsConstants, mkdirSync, promises as fsp } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Job } from "../../lib/contracts/agent-jobs";
import { BackupManifest, type ManifestObject } from "../../lib/contracts/manifest";
import { lifeboatObjectNames, twoCopyLifeboatObjectNames, formatStamp } from "../../lib/contracts/backup-names";
import type { BackupResult, StartBackupRequest } from "../../lib/contracts/agent-backup";
import { backupDone } from "../continuous/base-hook";
import { fileAtAsync, sameFile, type FileId } from "../continuous/file-id";
import { NotFoundError, StorageError } from "../../lib/storage/errors";
import type { BackupStore } from "../../lib/storage/backup-store";
import { AgentConfigError, readPassphrase } from "../config";
import { JobRunningError, JobStalledError, type JobHandle } from "../jobs/job-registry";
import { DomainError } from "../../lib/contracts/errors";
import { takeLockFile } from "../../lib/storage/pid-record";
import type { AgentDeps } from "../module";
import { AGENT_VERSION } from "../version";
import { recordBackupOutcome } from "../metrics/backup-outcome";
import { uploadBuffer, uploadEncrypted, uploadOneCopyArchives, uploadSnapshotArchives, type UploadedObject } from "./archive-pipeline";
import { checkPassphrase, PassphraseMismatchError } from "./passphrase-check";
import { runRetention } from "./retention-run";
import { listStoreSets } from "./sets";
import { snapshotStagingRoot, makeStaging, removeStaging, SnapshotError, takeSnapshot, DEFAULT_SNAPSHOT_METHOD, type SnapshotMethod } from "./snapshot";
import { collectEntries, tarStream, type TarEntry } from "./tar-stream";
import { releaseSqliteWorker, takeSqliteWorker } from "../sqlite/worker";

/** The steps of a backup job, in order (GET /jobs/:id shows them; the dashboard draws them). */
export const BACKUP_STEPS = [
  { name: "check", label: "Check store and passphrase" },
  { name: "snapshot", label: "Snapshot" },
  { name: "upload", label: "Upload database and server files" }, // token, cred/, tls/
  { name: "integrity", label: "Integrity check" },
  { name: "stats", label: "Statistics" },
  { name: "manifest", label: "Verify and write manifest" },
  { name: "retention", label: "Retention" },
];

export type BackupTrigger = "api" | "cli" | "schedule";

export interface BackupOptions extends StartBackupRequest {
  /** Snapshot method (benchmarks compare both); default VACUUM INTO. */
  snapshotMethod?: SnapshotMethod;
  /**
   * "one-copy" (default): the database once, beside a secrets archive. "two-copies": the layout
   * written before issue 15 (the database again inside a server archive, plus a token archive),
   * kept so tests prove mixed buckets and bench:backup measures what one copy saves. Not on the API.
   */
  layout?: "one-copy" | "two-copies";
}

const mb = (n: number) => `${(n / 1e6).toFixed(n < 10e6 ? 2 : 1)} MB`;
const secs = (ms: number) => `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;

/** The installed k3s's version ("v1.31.4+k3s1"), or null when k3s is not on PATH. */
async function k3sVersion(): Promise<string | null> {
  // Look first: forking only to learn ENOENT is a waste. Never rejects.
  const dirs = (process.env.PATH ?? "").split(path.delimiter).filter(Boolean);
  const found = await Promise.all(
    dirs.map((d) =>
      fsp.access(path.join(d, "k3s"), fsConstants.X_OK).then(
        () => true,
        () => false,
      ),
    ),
  );
  if (!found.includes(true)) return null;
  return new Promise((resolve) => {
    execFile("k3s", ["--version"], { timeout: 3000 }, (err, stdout) => {
      if (err) return resolve(null);
      resolve(/k3s version (\S+)/.exec(stdout)?.[1] ?? null);
    });
  });
}

/** Another process (a `lifeboat-agent backup`, or the service) is taking a backup with this state directory (`backup_busy`). */
export class BackupBusyError extends DomainError {
  constructor(readonly pid: number) {
    super(
      "backup_busy",
      `Another Lifeboat process (pid ${pid}) is taking a backup right now; wait for it to finish (two at once would name their sets after the same second and overwrite each other's objects).`,
    );
  }
}

/**
 * Takes `<state>/backup.lock` and returns its release. Throws BackupBusyError when a live process
 * holds it. A state directory that cannot be written runs the backup without it: its snapshot step
 * then fails with the sentence that says so.
 */
function takeBackupLock(stateDir: string): () => void {
  let lock: ReturnType<typeof takeLockFile>;
  try {
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    lock = takeLockFile(path.join(stateDir, "backup.lock"));
  } catch {
    return () => {};
  }
  if ("holder" in lock) throw new BackupBusyError(lock.holder);
  return lock.release;
}

/**
 * Starts a backup job in the registry (group "backup": one at a time) and returns its id at once.
 * Throws JobRunningError when a backup is already running, BackupBusyError when one runs in another
 * process (`<state>/backup.lock`: a CLI backup beside the service's schedule). The API, the CLI and
 * the schedule all come through here.
 */
export function startBackupJob(deps: AgentDeps, request: BackupOptions, trigger: BackupTrigger): { id: string; done: Promise<Job> } {
  const log = deps.log.child({ component: "backup", trigger });
  const busy = deps.jobs.runningIn("backup");
  if (busy) throw new JobRunningError(busy, "backup");
  const release = takeBackupLock(deps.config.stateDir);
  // The database file the snapshot read, for the log's base (base-hook.ts); null: replaced while it ran.
  let snapshotFile: FileId | null = null;
  try {
    return deps.jobs.start<BackupResult>({
      type: "backup",
      group: "backup",
      steps: BACKUP_STEPS,
      run: (job) => runBackup(deps, request, job, log.child({ jobId: job.id }), (f) => (snapshotFile = f)),
      describeError: describeBackupError,
      onFinish: (job) => {
        release();
        if (job.state === "succeeded") {
          const r = job.result as BackupResult;
          log.info({ jobId: job.id, setId: r.setId }, "backup succeeded");
          backupDone({ setId: r.setId, revision: r.manifest.database.currentRevision, file: snapshotFile });
        } else log.error({ jobId: job.id, error: job.error }, "backup failed");
        try {
          recordBackupOutcome(deps.config.stateDir, job);
        } catch (err) {
          log.warn({ err: (err as Error).message }, "could not record the backup's outcome for /metrics and /backups/last");
        }
      },
    });
  } catch (err) {
    release();
    throw err;
  }
}

/** A failure whose message is already the full sentence for the user. */
class BackupStepError extends Error {}

/** The sentence a failed backup reports: what happened, what to do, and that nothing counts as a backup. */
export function describeBackupError(err: unknown): string {
  const tail = " No manifest was uploaded, so nothing from this run counts as a backup.";
  if (err instanceof StorageError || err instanceof NotFoundError) {
    const e = err as StorageError;
    const hint = e.message.startsWith("fs:")
      ? "Check LIFEBOAT_BACKUP_DIR (the directory must exist and be writable)."
      : e.failure === "unreachable"
        ? "Check AWS_S3_ENDPOINT and the network."
        : e.failure === "auth"
          ? "Check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY."
          : e.failure === "no_bucket"
            ? "Check AWS_S3_BUCKET (the bucket must exist)."
            : "";
    return `The backup store failed: ${e.message}. ${hint}`.trim() + tail;
  }
  if (
    err instanceof SnapshotError ||
    err instanceof PassphraseMismatchError ||
    err instanceof AgentConfigError ||
    err instanceof BackupStepError ||
    err instanceof JobStalledError
  )
    return (err as Error).message + tail;
  return `The backup failed: ${(err as Error)?.message ?? String(err)}.` + tail;
}

async function runBackup(
  deps: AgentDeps,
  request: BackupOptions,
  job: JobHandle,
  log: AgentDeps["log"],
  onSnapshotFile: (f: FileId | null) => void = () => {},
): Promise<BackupResult> {
  const cfg = deps.config;
  const timings: Record<string, number> = {};
  const t0 = performance.now();
  const uploaded: string[] = [];
  let store: BackupStore | undefined;
  let staging: string | undefined;
  try {
    // 1. Everything that can be checked before touching the database.
    job.step("check");
    // The snapshot's worker thread boots now, on the second core (a thread, the worker's chunk of the
    // bundle, SQLite: ~0.1 s), while this thread checks, stages and loads the S3 SDK; takeSnapshot
    // then finds it idle in the pool. Started only when the copy was asked for, its boot waited for
    // all of that: ~0.15 s of a backup's wall time (docs/benchmarks.md).
    releaseSqliteWorker(takeSqliteWorker());
    // `k3s --version` for the manifest, asked now: on a k3s host it takes 0.05-0.2 s, which after the
    // upload was on the backup's critical path, and forking is cheaper before the upload's buffers exist.
    const version = k3sVersion();
    const passphrase = readPassphrase(cfg);
    store = deps.store();
    const tokenStat = await fsp.stat(cfg.tokenPath).catch(() => null);
    if (!tokenStat?.isFile())
      throw new BackupStepError(
        `There is no k3s token at ${cfg.tokenPath}. k3s cannot use a restored datastore without the token that encrypted its bootstrap data, so a backup without it is incomplete. Check LIFEBOAT_K3S_SERVER_DIR.`,
      );
    // A token file cut to nothing is no token either: a restore would put it in place of a good one.
    if (tokenStat.size < 64 * 1024 && !(await fsp.readFile(cfg.tokenPath, "utf8").catch(() => "")).trim())
      throw new BackupStepError(
        `The k3s token at ${cfg.tokenPath} is empty. k3s cannot use a restored datastore without the token that encrypted its bootstrap data, so a backup with an empty one is incomplete. Put the cluster's token back in that file (k3s writes it at its first start; from your records otherwise) and back up again.`,
      );
    // 2. The snapshot (on a worker thread, the second core) and the store's side of the check (the
    // listing, and proving the passphrase opens the newest set: the main thread) run side by side.
    // Nothing is uploaded before both ended well: a wrong passphrase still fails the backup with
    // nothing uploaded, it only no longer waits for the snapshot to start.
    let t = performance.now();
    const storeCheck = (async () => {
      const listing = await listStoreSets(store);
      let sentence: string;
      try {
        sentence = await checkPassphrase(store, listing.sets, passphrase);
      } catch (err) {
        if (!(err instanceof PassphraseMismatchError) || !request.allowNewPassphrase) throw err;
        sentence = `new passphrase on purpose: it does not open ${err.setId}`;
      }
      timings.passphraseCheck = performance.now() - t;
      return { listing, sentence };
    })();
    storeCheck.catch(() => {}); // awaited below, after the snapshot ended
    job.step("snapshot");
    staging = await makeStaging(snapshotStagingRoot(cfg.stateDir), "backup");
    const twoCopies = request.layout === "two-copies";
    // The set is named after its snapshot (UTC, seconds). Two sets in one second (a manual backup
    // right after a scheduled one) would share a name: the later snapshot is taken again the next second.
    let snap: Awaited<ReturnType<typeof takeSnapshot>>;
    let time: Date;
    let pre: Awaited<typeof storeCheck>;
    for (;;) {
      time = new Date(Math.floor(Date.now() / 1000) * 1000);
      const fileBefore = await fileAtAsync(cfg.dbPath);
      const [snapped, ok] = await Promise.allSettled([takeSnapshot(cfg.dbPath, staging, request.snapshotMethod ?? DEFAULT_SNAPSHOT_METHOD), storeCheck]);
      const fileAfter = await fileAtAsync(cfg.dbPath);
      onSnapshotFile(fileBefore && fileAfter && sameFile(fileBefore, fileAfter) ? fileBefore : null);
      // The check's failure (a wrong passphrase, an unreachable store) is the one to report.
      if (ok.status === "rejected") throw ok.reason;
      if (snapped.status === "rejected") throw snapped.reason;
      snap = snapped.value;
      pre = ok.value;
      const id = `lifeboat-${formatStamp(time)}`;
      if (!pre.listing.sets.some((s) => s.id === id)) break;
      await fsp.rm(snap.path, { force: true });
      await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 5));
    }
    job.detail("check", `${store.description}; ${pre.sentence}`);
    const names: BackupResult["keys"] = twoCopies ? twoCopyLifeboatObjectNames(time) : lifeboatObjectNames(time);
    timings.snapshot = snap.ms;
    job.detail("snapshot", `${snap.method}: ${mb(snap.bytes)} in ${secs(snap.ms)}`);
    log.info({ method: snap.method, ms: Math.round(snap.ms), bytes: snap.bytes }, "snapshot taken");

    // 3. What the server archive holds besides the snapshot.
    const dbDirStat = await fsp.stat(path.dirname(cfg.dbPath));
    const head: TarEntry[] = [
      { name: "db", type: "dir", mode: dbDirStat.mode & 0o7777, size: 0, mtime: time },
      { name: "db/state.db", type: "file", source: snap.path, mode: 0o600, size: snap.bytes, mtime: time },
    ];
    const tokenEntry: TarEntry = {
      name: "token",
      type: "file",
      source: cfg.tokenPath,
      mode: tokenStat.mode & 0o7777,
      size: tokenStat.size,
      mtime: tokenStat.mtime,
    };
    const rest: TarEntry[] = [tokenEntry];
    const skipped: string[] = [];
    await collectEntries(cfg.serverDir, "cred", rest, skipped);
    await collectEntries(cfg.serverDir, "tls", rest, skipped);
    if (skipped.length) log.warn({ skipped }, "not archived: not regular files or directories");
    const restBytes = rest.reduce((n, e) => n + (e.type === "file" ? e.size : 0), 0);
    const total = snap.bytes + restBytes + (twoCopies ? tokenStat.size : 0);
    let snapDone = 0;
    let restDone = 0;
    const progress = () => job.progress(Math.min(snapDone, snap.bytes) + Math.min(restDone, restBytes), total);
    progress();
    // 4. Upload (database and server files from one compression pass, side by side) while
    // PRAGMA integrity_check and the statistics run on the same copy on a worker thread (the second
    // core). The manifest, which alone marks a set good, is written only after the check passed; a
    // failed check aborts the upload and what was uploaded is removed.
    job.step("upload");
    job.detail("integrity", "running alongside the upload…");
    // The worker that made the snapshot's copy (idle in the pool now) checks it: no second thread.
    const checker = takeSqliteWorker();
    const check = checker.run({ kind: "snapshot", snapshotPath: snap.path, sourcePath: cfg.dbPath });
    const abort = new AbortController();
    check.catch((err) => abort.abort(err));
    // A stalled upload (a store that stopped answering) ends with the job, not in the background.
    const onStall = () => abort.abort(job.signal.reason);
    job.signal.addEventListener("abort", onStall, { once: true });
    t = performance.now();
    let logical: UploadedObject, second: UploadedObject;
    try {
      const progressOpts = {
        passphrase,
        onSnapshotBytes: (n: number) => ((snapDone = n), progress()),
        onRestBytes: (n: number) => ((restDone = n), progress()),
        signal: abort.signal,
      };
      if (twoCopies) {
        uploaded.push(names.logical, names.files!);
        const keys = { logical: names.logical, files: names.files! };
        ({ logical, files: second } = await uploadSnapshotArchives(store, {
          snapshotPath: snap.path,
          snapshotBytes: snap.bytes,
          head,
          rest,
          keys,
          ...progressOpts,
        }));
      } else {
        uploaded.push(names.logical, names.secrets!);
        const keys = { logical: names.logical, secrets: names.secrets! };
        ({ logical, secrets: second } = await uploadOneCopyArchives(store, { snapshotPath: snap.path, rest, keys, ...progressOpts }));
      }
    } catch (err) {
      checker.dispose();
      // A failed check is the cause to report, not the upload it stopped.
      throw abort.signal.aborted ? abort.signal.reason : err;
    }
    timings.upload = performance.now() - t;
    job.detail("upload", `database ${mb(logical.size)}, ${twoCopies ? "server files" : "token, cred/, tls/"} ${mb(second.size)} in ${secs(timings.upload)}`);
    job.step("integrity");
    // integrity_check reports no progress of its own; while its worker runs, the backup is not stalled.
    const busy = setInterval(() => job.touch(), 1000);
    const checked = await check.finally(() => {
      clearInterval(busy);
      releaseSqliteWorker(checker);
    });
    job.signal.removeEventListener("abort", onStall);
    timings.integrityCheck = checked.integrityMs;
    job.detail("integrity", `integrity_check: ok (${secs(checked.integrityMs)}, alongside the upload)`);
    job.step("stats");
    timings.stats = checked.statsMs;
    const st = checked.stats;
    job.detail("stats", `${st.rowCount} rows, revision ${st.currentRevision}, compaction lag ${st.compactionLag}`);
    // 5. The token archive (two-copy layout only: the one-copy layout's secrets archive holds the token).
    let token: UploadedObject | null = null;
    if (twoCopies) {
      uploaded.push(names.token!);
      t = performance.now();
      token = await uploadEncrypted(store, names.token!, tarStream([tokenEntry]), passphrase);
      timings.uploadToken = performance.now() - t;
    }
    job.progress(total, total);

    // 6. Verify what the store holds, then the manifest, last: its presence marks a complete set.
    job.step("manifest");
    t = performance.now();
    const archives = token ? [logical, second, token] : [logical, second];
    for (const o of archives) {
      const stored = await store.head(o.key);
      if (stored.size !== o.size)
        throw new BackupStepError(`The store holds ${stored.size} bytes for ${o.key} but ${o.size} were uploaded; the store is not keeping objects intact.`);
    }
    timings.verify = performance.now() - t;
    const entry = (kind: ManifestObject["kind"], o: UploadedObject): ManifestObject => ({ kind, key: o.key, size: o.size, sha256: o.sha256 });
    const objects: ManifestObject[] = token
      ? [entry("lifeboat-logical", logical), entry("lifeboat-files", second), entry("lifeboat-token", token)]
      : [entry("lifeboat-logical", logical), entry("lifeboat-secrets", second)];
    timings.total = performance.now() - t0;
    const manifest = BackupManifest.parse({
      version: 1,
      setId: `lifeboat-${formatStamp(time)}`,
      createdAt: time.toISOString(),
      host: os.hostname(),
      k3sVersion: await version,
      agentVersion: AGENT_VERSION,
      snapshotMethod: snap.method,
      integrity: checked.integrity,
      database: st,
      objects,
      timings: Object.fromEntries(Object.entries(timings).map(([k, v]) => [k, Math.round(v)])),
      archivedPaths: [...(twoCopies ? head : []), ...rest].map((e) => (e.type === "dir" ? `${e.name}/` : e.name)),
    });
    uploaded.push(names.manifest);
    await uploadBuffer(store, names.manifest, Buffer.from(JSON.stringify(manifest, null, 2) + "\n"), "application/json");
    job.detail("manifest", `${names.manifest} written; ${objects.length} archives verified in the store`);
    uploaded.length = 0; // the set is complete: nothing to clean up from here on

    // 7. Retention, after the new set is safely in place. Its failure does not undo the backup.
    let retention: BackupResult["retention"] = null;
    let retentionError: string | null = null;
    if (request.retention) {
      job.step("retention");
      try {
        // Deleting old sets and log segments one by one can take minutes: each deletion is progress.
        retention = await runRetention(store, cfg.retention, { dryRun: false, log, stateDir: cfg.stateDir, onProgress: () => job.touch() });
        job.detail("retention", `${retention.deleted.length} objects of ${retention.summary.delete} old sets deleted; ${retention.summary.keep} sets kept`);
        // Deletions the store refused (no delete right, an object lock): the sets stay, and the result says so.
        const failed = retention.failed;
        if (failed.length) {
          retentionError = `Retention could not delete ${failed.length} object${failed.length === 1 ? "" : "s"} after the backup succeeded (${failed[0].message}); what it could not delete stays in the store.`;
          job.detail("retention", retentionError);
        }
      } catch (err) {
        retentionError = `Retention failed after the backup succeeded: ${(err as Error).message}`;
        job.detail("retention", retentionError);
        log.warn({ err: (err as Error).message }, "retention failed");
      }
    } else {
      job.skip("retention", "not requested");
    }
    return { setId: manifest.setId, keys: names, manifest, passphraseCheck: pre.sentence, retention, retentionError };
  } catch (err) {
    if (store && uploaded.length) {
      // Leave no half-set behind. Without a manifest it would never be trusted anyway.
      for (const key of uploaded) await store.delete(key).catch(() => {});
    }
    throw err;
  } finally {
    if (staging) await removeStaging(staging);
  }
}
