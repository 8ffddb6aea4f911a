import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pino from "pino";
import { Job } from "../../lib/contracts/agent-jobs";
import { RecoveryList, RecoveryReport, RecoveryStarted } from "../../lib/contracts/agent-recovery";
import { loadAgentConfig } from "../config";
import { makeDeps } from "../deps";
import { buildAgentApp, type AgentApp } from "../server";
import { makeKineFixture, overwritePage, type KineFixture } from "../testing/corrupt";
import { waitFor } from "../testing/restore-fixtures";

/** The recovery endpoints over HTTP, with their response schemas checked by the router. */

let work: string;
let app: AgentApp;
let url: string;
let fixture: KineFixture;

beforeAll(async () => {
  work = mkdtempSync(path.join(tmpdir(), "lifeboat-rec-http-"));
  const serverDir = path.join(work, "server");
  mkdirSync(path.join(serverDir, "db"), { recursive: true });
  fixture = makeKineFixture(path.join(work, "template.db"), { targetBytes: 2_000_000, seed: 8 });
  copyFileSync(path.join(work, "template.db"), path.join(serverDir, "db", "state.db"));
  overwritePage(path.join(serverDir, "db", "state.db"), 1, fixture.pageSize, "zero");
  writeFileSync(path.join(serverDir, "token"), fixture.token);
  const config = loadAgentConfig({
    LIFEBOAT_K3S_SERVER_DIR: serverDir,
    LIFEBOAT_STATE_DIR: path.join(work, "state"),
    LIFEBOAT_AGENT_TOKEN: "recovery-test-agent-token-0123456789",
    LIFEBOAT_INTEGRITY_SCHEDULE: "off",
    LIFEBOAT_K3S_STATUS_CMD: "echo inactive",
    LOG_LEVEL: "silent",
  });
  app = buildAgentApp(makeDeps(config, { logDestination: pino.destination("/dev/null") }));
  url = (await app.listen(0, "127.0.0.1")).url;
});
afterAll(async () => {
  await app?.close();
  rmSync(work, { recursive: true, force: true });
});

const call = async (method: string, p: string, body?: unknown) => {
  const res = await fetch(url + p, {
    method,
    headers: { authorization: "Bearer recovery-test-agent-token-0123456789", "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
};

describe("POST /recoveries, GET /recoveries[/:id]", () => {
  it("runs the ladder as a job and serves the report", async () => {
    const started = await call("POST", "/recoveries", { compareWith: "none" });
    expect(started.status).toBe(202);
    const { recoveryId, jobId } = RecoveryStarted.parse(started.json);
    const job = await waitFor(async () => {
      const j = Job.parse((await call("GET", `/jobs/${jobId}`)).json);
      return j.state === "running" ? undefined : j;
    });
    expect(job.state, job.error ?? "").toBe("succeeded");
    expect(job.steps.map((s) => s.name)).toEqual(["copy", "integrity", "dump", "recover", "salvage", "kine-check", "compare"]);
    const report = RecoveryReport.parse((await call("GET", `/recoveries/${recoveryId}`)).json);
    expect(report.best).toMatchObject({ rung: "salvage", rows: fixture.rows });
    expect(report.rungs.find((r) => r.name === "compare")?.skippedReason).toBe("not requested");
    expect(report.recommendation).toContain(`lifeboat-agent restore recovery:${recoveryId}`);
    expect(RecoveryList.parse((await call("GET", "/recoveries")).json).recoveries.map((r) => r.id)).toContain(recoveryId);
  });

  it("one datastore job at a time: recoveries and restores answer 409 naming the running job", async () => {
    let release!: () => void;
    const held = app.deps.jobs.start({
      type: "restore",
      group: "datastore",
      steps: [{ name: "stage", label: "Stage" }],
      run: () => new Promise<void>((r) => (release = r)),
    });
    try {
      for (const [p, body] of [
        ["/recoveries", {}],
        ["/restores", { source: { kind: "backup", setId: "lifeboat-2024-12-18_00-00-00" }, dryRun: true }],
      ] as const) {
        const busy = await call("POST", p, body);
        expect(busy.status).toBe(409);
        expect(busy.json).toMatchObject({ code: "job_running", jobId: held.id });
        expect(busy.json.message).toMatch(/wait for it to finish/);
      }
    } finally {
      release();
      await held.done;
    }
  });

  it("answers 404 for an unknown recovery and 400 for a bad request", async () => {
    expect((await call("GET", "/recoveries/rec-nope")).status).toBe(404);
    const bad = await call("POST", "/recoveries", { compareWith: "sometimes" });
    expect(bad.status).toBe(400);
    expect(bad.json.message).toMatch(/compareWith/);
  });
});
