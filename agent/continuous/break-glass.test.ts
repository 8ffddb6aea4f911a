import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { runProcess } from "../../lib/process";
import { loadAgentConfig, readPassphrase } from "../config";
import { makeDeps } from "../deps";
import { spawnKineWriter, type RunningKineWriter } from "../testing/kine-writer-process";
import { makeTestServer, type TestServer } from "../testing/restore-fixtures";
import { stopGpgAgents, useGnupgHome } from "../testing/test-server-dir";
import { copyLive, dumpKine, storedSegments, withShippedWhilePaused } from "../testing/continuous-fixtures";
import { startBackupJob } from "../backup/run-backup";
import { runRetention } from "../backup/retention-run";
import { LogShipper } from "./shipper";
import { compactWindow } from "./compaction";
import { listLog } from "./log-listing";

/**
 * docs/continuous.md's break-glass block, run as it is written with the real gpg, zstd and sqlite3
 * on a log the shipper wrote from the real writer (compacting): the result equals the live database
 * at that revision, row for row — to the end of the log, and to a point inside it; and, once retention
 * deleted the generation's first base (the marker's baseSetId), from the base the doc says to take then.
 */

const ROOT = path.resolve(import.meta.dirname, "../..");
let work: string;
let server: TestServer;
let writer: RunningKineWriter;

/** Runs the recipe in a fresh directory below `work`; its state.db, and what it printed. */
async function runRecipe(name: string, vars: { STORE: string; BASE: string; GEN: string; UPTO: string }) {
  const dir = path.join(work, `glass-${name}`);
  mkdirSync(dir);
  const run = await runProcess("bash", ["-euo", "pipefail", "-c", recipe()], {
    cwd: dir,
    env: { ...process.env, PATH: process.env.PATH!, HOME: work, GNUPGHOME: path.join(work, "gnupg"), PASSFILE: path.join(work, "passphrase"), ...vars },
    timeoutMs: 120_000,
  });
  return { ...run, db: path.join(dir, "state.db") };
}

/**
 * BASE as the doc's text before the block says to choose it: the stamp of the newest Lifeboat set in
 * the store taken at or after the generation's marker's baseSetId (this store holds one generation)
 * whose manifest's database.currentRevision is at or below UPTO.
 */
function documentedBase(store: string, markerBaseSetId: string, upto: string): string {
  const first = markerBaseSetId.replace(/^lifeboat-/, "");
  const stamps = readdirSync(store)
    .map((n) => /^lifeboat_(\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2})_manifest\.json$/.exec(n)?.[1])
    .filter((t): t is string => Boolean(t) && t! >= first)
    .filter((t) => {
      const rev = (JSON.parse(readFileSync(path.join(store, `lifeboat_${t}_manifest.json`), "utf8")) as { database: { currentRevision: number } }).database
        .currentRevision;
      return upto === "" || rev <= Number(upto);
    })
    .sort();
  if (!stamps.length) throw new Error("no base set in the store");
  return stamps[stamps.length - 1];
}

function recipe(): string {
  const doc = readFileSync(path.join(ROOT, "docs/continuous.md"), "utf8");
  const m = /<!-- break-glass -->\s*```sh\n([\s\S]*?)```/.exec(doc);
  if (!m) throw new Error("docs/continuous.md has no break-glass block");
  return m[1];
}

beforeAll(async () => {
  work = mkdtempSync(path.join(tmpdir(), "lifeboat-breakglass-"));
  writeFileSync(path.join(work, "passphrase"), "break glass passphrase\n");
  mkdirSync(useGnupgHome(path.join(work, "gnupg")), { mode: 0o700 });
  server = makeTestServer(path.join(work, "k3s"), { seed: 44, marker: "marker-GLASS" });
  writer = await spawnKineWriter({ db: server.dbPath, intervalMs: 40, compactEveryMs: 600, seed: 44 });
}, 60_000);

afterAll(async () => {
  writer?.process.kill("SIGCONT");
  await writer?.stop().catch(() => {});
  stopGpgAgents();
  rmSync(work, { recursive: true, force: true });
});

describe("break-glass recipe (gpg | zstd | sqlite3)", () => {
  it("rebuilds the database at the end of the log and at a point inside it, row for row", async () => {
    const store = path.join(work, "store");
    mkdirSync(store);
    const deps = makeDeps(
      loadAgentConfig({
        LIFEBOAT_K3S_SERVER_DIR: server.serverDir,
        LIFEBOAT_PASSPHRASE_FILE: path.join(work, "passphrase"),
        LIFEBOAT_STATE_DIR: path.join(work, "state"),
        LIFEBOAT_BACKUP_DIR: store,
        LIFEBOAT_BACKUP_SCHEDULE: "off",
        LOG_LEVEL: "silent",
      }),
    );
    const shipper = new LogShipper(deps, { intervalMs: 300, baseAtFirstStart: true });
    const copies: { revision: number; file: string }[] = [];
    for (let i = 0; i < 4; i++) {
      await sleep(i === 0 ? 0 : 1500);
      await withShippedWhilePaused(writer, shipper, async () => {
        const file = path.join(work, `copy-${i}.db`);
        await copyLive(server.dbPath, file);
        copies.push({ revision: dumpKine(file).revision, file });
      });
    }
    await shipper.stop();
    const pos = shipper.position();
    expect((await storedSegments(deps.store())).length).toBeGreaterThan(1);
    // A checkpoint of the open window (serve writes one every few minutes) beside the segments: it
    // matches the glob and sorts among them, ending after the inside point.
    const [gen] = await listLog(deps.store());
    const cp = await compactWindow(
      deps.store(),
      gen.segments,
      { passphrase: readPassphrase(deps.config), windowHours: 24, now: new Date(), scratchDir: path.join(work, "cp-scratch") },
      24,
      true,
    );
    expect(cp?.key).toMatch(/\.checkpoint\.sql\.zst\.gpg$/);
    expect(cp!.last).toBeGreaterThan(copies[2].revision);
    // A segment it covers, needed for the inside point, sorts after it by name.
    expect(gen.segments.filter((x) => x.last <= copies[2].revision && x.key > cp!.key.slice(cp!.key.lastIndexOf("/") + 1)).length).toBeGreaterThan(0);
    for (const [name, point, upto] of [
      ["end", copies[3], ""],
      ["inside", copies[2], String(copies[2].revision)],
    ] as const) {
      const run = await runRecipe(name, { STORE: store, BASE: documentedBase(store, pos.baseSetId!, upto), GEN: pos.generation!, UPTO: upto });
      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout.trim().split("\n")).toEqual(["ok", String(point.revision)]);
      const got = dumpKine(run.db);
      const want = dumpKine(point.file);
      expect(got.compactRevision).toBe(want.compactRevision);
      expect(got.rows).toEqual(want.rows);
    }
  }, 240_000);

  it("after retention deleted the generation's first base: from the base the doc says to take, to the end of the log", async () => {
    const store = path.join(work, "store-retained");
    mkdirSync(store);
    const deps = makeDeps(
      loadAgentConfig({
        LIFEBOAT_K3S_SERVER_DIR: server.serverDir,
        LIFEBOAT_PASSPHRASE_FILE: path.join(work, "passphrase"),
        LIFEBOAT_STATE_DIR: path.join(work, "state-retained"),
        LIFEBOAT_BACKUP_DIR: store,
        LIFEBOAT_BACKUP_SCHEDULE: "off",
        LOG_LEVEL: "silent",
      }),
    );
    const shipper = new LogShipper(deps, { intervalMs: 300, baseAtFirstStart: true });
    await shipper.tick();
    const firstBase = shipper.position().baseSetId!;
    await sleep(1500);
    // The nightly set: a later base of the same generation, with more log after it.
    const job = await startBackupJob(deps, { retention: false, allowNewPassphrase: false }, "schedule").done;
    expect(job.state, job.error ?? "").toBe("succeeded");
    await sleep(1500);
    const end = await withShippedWhilePaused(writer, shipper, async () => {
      const file = path.join(work, "copy-retained.db");
      await copyLive(server.dbPath, file);
      return { revision: dumpKine(file).revision, file };
    });
    await shipper.stop();
    // Retention keeps the newest set only: the marker's base goes, and the segments only it needed.
    await runRetention(deps.store(), { keepLast: 1, keepDaily: 0, keepWeekly: 0, keepMonthly: 0 }, { dryRun: false });
    expect(existsSync(path.join(store, `${firstBase.replace(/^lifeboat-/, "lifeboat_")}_state.db.zst.gpg`))).toBe(false);

    const base = documentedBase(store, firstBase, "");
    const run = await runRecipe("retained", { STORE: store, BASE: base, GEN: shipper.position().generation!, UPTO: "" });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout.trim().split("\n")).toEqual(["ok", String(end.revision)]);
    const got = dumpKine(run.db);
    const want = dumpKine(end.file);
    expect(got.compactRevision).toBe(want.compactRevision);
    expect(got.rows).toEqual(want.rows);
  }, 240_000);
});
