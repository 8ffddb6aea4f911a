import "server-only";
import { randomUUID } from "node:crypto";
import { DomainError } from "../contracts/errors";
import type { Db } from "../db/database";
import { audit } from "../db/database";
import { DrainJob, type DrainOptions } from "../contracts/nodes";
import { logger } from "../log";
import { drainNode, drainCommand, type DrainTiming } from "./drain";
import type { KubeClient } from "./kube-client";

const log = logger("drain");

/** A drain is already running for that node (`drain_running`, 409). */
export class DrainConflictError extends DomainError {
  constructor(readonly job: DrainJob) {
    super("drain_running", `A drain of ${job.node} is already running (started ${job.startedAt}). Wait for it, or stop it first.`);
  }
}

/**
 * Long-running drains inside the dashboard server process. The browser starts one and polls its
 * progress; every change is written to `drain_jobs`, so a reload (or another tab) sees the same
 * job, and a dashboard restart shows it as interrupted instead of losing it.
 */
export class DrainJobs {
  private readonly live = new Map<string, { job: DrainJob; ctl: AbortController; done: Promise<DrainJob> }>();

  constructor(
    private readonly db: Db,
    private readonly client: () => KubeClient,
    private readonly timing?: Partial<DrainTiming>,
  ) {
    // Jobs marked running belong to a dashboard process that is gone.
    const stale = db.prepare("SELECT id, job FROM drain_jobs WHERE state = 'running'").all() as { id: string; job: string }[];
    for (const row of stale) {
      const job = DrainJob.parse(JSON.parse(row.job));
      this.save({
        ...job,
        state: "interrupted",
        finishedAt: new Date().toISOString(),
        message: "The dashboard stopped while this drain was running. Evictions already made stay made; drain again to finish.",
      });
    }
  }

  private save(job: DrainJob): void {
    this.db
      .prepare(
        "INSERT INTO drain_jobs (id, node, state, job, started_at, updated_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET state = excluded.state, job = excluded.job, updated_at = excluded.updated_at",
      )
      .run(job.id, job.node, job.state, JSON.stringify(job), job.startedAt, new Date().toISOString());
  }

  /**
   * Starts draining `node` in the background and returns the job at once. Throws DrainConflictError
   * when one is already running for the node, KubeError `not_configured` without a cluster.
   */
  start(node: string, options: DrainOptions, context: { via: string; runId?: string } = { via: "nodes page" }): DrainJob {
    const existing = [...this.live.values()].find((l) => l.job.node === node && l.job.state === "running");
    if (existing) throw new DrainConflictError(existing.job);
    const client = this.client();
    const id = randomUUID();
    const ctl = new AbortController();
    const first: DrainJob = {
      id,
      node,
      state: "running",
      options,
      startedAt: new Date().toISOString(),
      finishedAt: null,
      pods: [],
      needsChoice: [],
      blockers: [],
      message: null,
      kubectl: drainCommand(node, options),
    };
    const entry = { job: first, ctl, done: Promise.resolve(first) };
    this.live.set(id, entry);
    this.save(first);
    audit(this.db, "node.drain", node, "started", { jobId: id, options, ...context });
    log.info({ node, jobId: id, options }, "drain started");
    entry.done = drainNode(node, options, {
      client,
      id,
      signal: ctl.signal,
      timing: this.timing,
      onUpdate: (job) => {
        entry.job = job;
        this.save(job);
      },
    })
      .then((job) => {
        entry.job = job;
        this.save(job);
        const evicted = job.pods.filter((p) => p.state === "gone" || p.state === "deleted").length;
        const unconfirmed = job.pods.filter((p) => p.state === "deleted").map((p) => `${p.namespace}/${p.name}`);
        audit(this.db, "node.drain", node, job.state, {
          jobId: id,
          evicted,
          ...(unconfirmed.length ? { unconfirmed } : {}),
          message: job.message,
          blockers: job.blockers.map((b) => ({ pod: `${b.namespace}/${b.name}`, pdbs: b.pdbs })),
          ...context,
        });
        log.info({ node, jobId: id, state: job.state, evicted }, "drain finished");
        return job;
      })
      .catch((err: unknown) => {
        // drainNode reports API failures in the job; reaching here is a bug — keep the job honest.
        log.error({ err, node, jobId: id }, "drain crashed");
        const job: DrainJob = {
          ...entry.job,
          state: "failed",
          finishedAt: new Date().toISOString(),
          message: "The drain stopped on an internal error; see the dashboard log. Drain again to continue.",
        };
        entry.job = job;
        this.save(job);
        audit(this.db, "node.drain", node, "failed", { jobId: id, message: job.message, ...context });
        return job;
      })
      .finally(() => {
        // Keep finished jobs readable from the database only.
        setTimeout(() => this.live.delete(id), 60_000).unref();
      });
    return first;
  }

  /** The job as last saved, or undefined. */
  get(id: string): DrainJob | undefined {
    const l = this.live.get(id);
    if (l) return structuredClone(l.job);
    const row = this.db.prepare("SELECT job FROM drain_jobs WHERE id = ?").get(id) as { job: string } | undefined;
    return row ? DrainJob.parse(JSON.parse(row.job)) : undefined;
  }

  /** The most recent drain of a node, or undefined. */
  latestForNode(node: string): DrainJob | undefined {
    const row = this.db.prepare("SELECT id FROM drain_jobs WHERE node = ? ORDER BY started_at DESC, rowid DESC LIMIT 1").get(node) as
      { id: string } | undefined;
    return row ? this.get(row.id) : undefined;
  }

  /** Stops a running drain; resolves with its final state (cancelled), or undefined if not running. */
  async cancel(id: string): Promise<DrainJob | undefined> {
    const l = this.live.get(id);
    if (!l || l.job.state !== "running") return undefined;
    l.ctl.abort();
    return l.done;
  }

  /** Resolves when the job finishes (tests, shutdown). */
  async settled(id: string): Promise<DrainJob | undefined> {
    return this.live.get(id)?.done ?? this.get(id);
  }
}
