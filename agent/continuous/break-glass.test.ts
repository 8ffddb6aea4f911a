import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { runProcess } from "../../lib/process";
import { loadAgentConfig } from "../config";
import { makeDeps } from "../deps";
import { spawnKineWriter, type RunningKineWriter } from "../testing/kine-writer-process";
import { makeTestServer, type TestServer } from "../testing/restore-fixtures";
import { stopGpgAgents, useGnupgHome } from "../testing/test-server-dir";
import { copyLive, dumpKine, storedSegments, withShippedWhilePaused } from "../testing/continuous-fixtures";
import { LogShipper } from "./shipper";

/**
 * docs/continuous.md's break-glass block, run as it is written with the real gpg, zstd and sqlite3
 * on a log the shipper wrote from the real writer (compacting): the result equals the live database
 * at that revision, row for row — to the end of the log, and to a point inside it.
 */

const ROOT = path.resolve(import.meta.dirname, "../..");
let work: string;
let server: TestServer;
let writer: RunningKineWriter;

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
    for (let i = 0; i < 3; i++) {
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
    const base = pos.baseSetId!.replace(/^lifeboat-/, "");
    for (const [name, point, upto] of [
      ["end", copies[2], ""],
      ["inside", copies[1], String(copies[1].revision)],
    ] as const) {
      const dir = path.join(work, `glass-${name}`);
      mkdirSync(dir);
      const run = await runProcess("bash", ["-euo", "pipefail", "-c", recipe()], {
        cwd: dir,
        env: {
          ...process.env,
          PATH: process.env.PATH!,
          HOME: work,
          GNUPGHOME: path.join(work, "gnupg"),
          STORE: store,
          PASSFILE: path.join(work, "passphrase"),
          BASE: base,
          GEN: pos.generation!,
          UPTO: upto,
        },
        timeoutMs: 120_000,
      });
      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout.trim().split("\n")).toEqual(["ok", String(point.revision)]);
      const got = dumpKine(path.join(dir, "state.db"));
      const want = dumpKine(point.file);
      expect(got.compactRevision).toBe(want.compactRevision);
      expect(got.rows).toEqual(want.rows);
    }
  }, 240_000);
});
