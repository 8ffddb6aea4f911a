import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pino from "pino";
import { BackupManifest } from "../../lib/contracts/manifest";
import type { BackupResult } from "../../lib/contracts/agent-backup";
import type { RestoreSource } from "../../lib/contracts/agent-restore";
import { runProcess } from "../../lib/process";
import { loadAgentConfig, readPassphrase } from "../config";
import { makeDeps } from "../deps";
import type { AgentDeps } from "../module";
import { openKineDb } from "../kine/schema";
import { KineSimulator } from "../kine/simulator";
import { dumpKine } from "../testing/continuous-fixtures";
import { btreePages, makeKineFixture, overwritePage } from "../testing/corrupt";
import { agentEnvFor, gpgEncrypt, hasMarker, makeTestServer, type TestServer } from "../testing/restore-fixtures";
import { stopGpgAgents, useGnupgHome } from "../testing/test-server-dir";
import { resolveSource } from "./sources";
import { stageBackup } from "./stage";

/**
 * The README's "Break-glass restore" blocks, taken from README.md and run as they are written (only
 * /root/…, the passphrase files and the timestamp point elsewhere) with the real gpg, zstd, tar and
 * sqlite3, on sets the product made: a one-copy Lifeboat set, a two-copy one, and the seed CronJob's
 * archives of a live database whose last write sits in its state.db-wal. Each result must be, row for
 * row, the database the agent stages from the same set, with the same token, cred/ and tls/; the
 * README's check must print what it says to compare with the manifest.
 */

const ROOT = path.resolve(import.meta.dirname, "../..");
const SEED_STAMP = "2024-12-18_00-00-00";
let work: string;
let store: string;
let passFile: string;
let gnupg: string;
let source: TestServer;
let lean: BackupResult;
let twoCopy: BackupResult;
let deps: AgentDeps;

/** The README's break-glass section's `sh` blocks, in order. */
function readmeBlocks(): string[] {
  const readme = readFileSync(path.join(ROOT, "README.md"), "utf8");
  const start = readme.indexOf("## Break-glass restore");
  const end = readme.indexOf("### Recovering a damaged database by hand");
  expect(start).toBeGreaterThan(0);
  expect(end).toBeGreaterThan(start);
  return [...readme.slice(start, end).matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]);
}
function block(containing: string): string {
  const found = readmeBlocks().filter((b) => b.includes(containing));
  if (found.length !== 1) throw new Error(`the README's break-glass section has ${found.length} sh blocks containing ${containing}`);
  return found[0];
}

/**
 * `script` with the operator's paths pointed into `root` (and the k3s server dir at `serverDir`, its
 * systemctl and kubectl lines no-ops), run in the store's directory (where the objects were fetched to).
 */
async function runAsOperator(script: string, root: string, ts: string, serverDir = path.join(root, "no-server")): Promise<string> {
  const adapted = script
    .replaceAll("/root/", `${root}/`)
    .replaceAll("/var/lib/rancher/k3s/server", serverDir)
    .replace(/systemctl (stop|start) k3s/g, "true")
    .replaceAll("kubectl get nodes", "true")
    .replaceAll("/etc/lifeboat/passphrase", passFile)
    .replaceAll("/etc/backup/gpg-passphrase", passFile)
    .replace(/\bTS=\S+/, `TS=${ts}`);
  const run = await runProcess("bash", ["-euo", "pipefail", "-c", `${adapted}\ngpgconf --kill gpg-agent`], {
    cwd: store,
    env: { ...process.env, PATH: process.env.PATH!, HOME: work, TMPDIR: work, GNUPGHOME: gnupg, TS: ts },
    timeoutMs: 120_000,
  });
  expect(run.code, `${adapted}\n${run.stderr}`).toBe(0);
  return run.stdout;
}

/** What the agent would put in place from `src`: its staged state.db's rows and its token, cred/ and tls/. */
async function agentStages(src: RestoreSource, name: string) {
  const dir = path.join(work, `agent-${name}`);
  mkdirSync(dir);
  const staged = await stageBackup(await resolveSource(deps, src), {
    stagingDir: dir,
    passphrase: () => readPassphrase(deps.config),
    maxBytes: 1e9,
    durable: false,
  });
  return { db: dumpKine(staged.dbPath), walReplayed: staged.walReplayed, files: filesBelow(dir, staged.tokenPath, staged.credDir, staged.tlsDir) };
}

/** token, cred/** and tls/** with their contents, named relative to the server dir. */
function filesBelow(_root: string, token: string | null, cred: string | null, tls: string | null): Record<string, string> {
  const out: Record<string, string> = {};
  if (token) out.token = readFileSync(token, "utf8");
  const walk = (dir: string, rel: string) => {
    for (const n of readdirSync(dir).sort()) {
      const p = path.join(dir, n);
      if (statSync(p).isDirectory()) walk(p, `${rel}/${n}`);
      else out[`${rel}/${n}`] = readFileSync(p, "utf8");
    }
  };
  if (cred) walk(cred, "cred");
  if (tls) walk(tls, "tls");
  return out;
}

function manifestOf(set: BackupResult): BackupManifest {
  return BackupManifest.parse(JSON.parse(readFileSync(path.join(store, set.keys.manifest!), "utf8")));
}

beforeAll(async () => {
  // Short: gpg-agent's sockets (S.gpg-agent.extra) live in GNUPGHOME, and a Unix socket's path has
  // at most 107 bytes; the suite's scratch directory already nests two levels under /tmp.
  work = mkdtempSync(path.join(tmpdir(), "lb-bgr-"));
  store = path.join(work, "store");
  mkdirSync(store);
  passFile = path.join(work, "passphrase");
  writeFileSync(passFile, "break glass for the sets\n", { mode: 0o600 });
  gnupg = useGnupgHome(path.join(work, "gnupg"));
  mkdirSync(gnupg, { mode: 0o700 });
  source = makeTestServer(path.join(work, "source"), { seed: 61, marker: "marker-README" });
  // A name longer than 100 bytes (a PAX header in the archives) in a directory below tls/, as k3s has.
  mkdirSync(path.join(source.serverDir, "tls", "temporary-certs"));
  writeFileSync(path.join(source.serverDir, "tls", "temporary-certs", `${"x".repeat(120)}.crt`), "long name\n", { mode: 0o640 });
  deps = makeDeps(loadAgentConfig({ ...agentEnvFor(source), LIFEBOAT_BACKUP_DIR: store, LIFEBOAT_PASSPHRASE_FILE: passFile }), {
    logDestination: pino.destination("/dev/null"),
  });
  const { startBackupJob } = await import("../backup/run-backup");
  const one = await startBackupJob(deps, { retention: false, allowNewPassphrase: true }, "cli").done;
  expect(one.state, one.error ?? "").toBe("succeeded");
  lean = one.result as BackupResult;
  // Two sets need two timestamps (a second apart).
  await new Promise((r) => setTimeout(r, 1100));
  const two = await startBackupJob(deps, { retention: false, allowNewPassphrase: false, layout: "two-copies" }, "cli").done;
  expect(two.state, two.error ?? "").toBe("succeeded");
  twoCopy = two.result as BackupResult;
  expect(Object.keys(lean.keys).sort()).toEqual(["logical", "manifest", "secrets"]);
  expect(Object.keys(twoCopy.keys).sort()).toEqual(["files", "logical", "manifest", "token"]);

  // The seed CronJob's two archives of the live database, taken while its newest write is in the WAL only.
  const db = openKineDb(source.dbPath);
  db.pragma("wal_autocheckpoint = 0");
  new KineSimulator(db, { seed: 9 }).put("/registry/configmaps/lifeboat-test/only-in-the-wal", Buffer.from("k8s\u0000in the WAL"));
  const seedDir = path.join(work, "seed-plain");
  mkdirSync(seedDir);
  execFileSync("sh", ["-c", `tar -cf - -C ${JSON.stringify(path.dirname(source.dbPath))} . | zstd -q -o ${seedDir}/k3s_db.tar.zst`]);
  execFileSync("sqlite3", [source.dbPath, `.backup '${seedDir}/state.db'`]);
  db.close();
  expect(execFileSync("tar", ["-tf", path.join(seedDir, "k3s_db.tar.zst"), "--zstd"]).toString()).toContain("./state.db-wal");
  gpgEncrypt(path.join(seedDir, "k3s_db.tar.zst"), path.join(store, `k3s_db_${SEED_STAMP}.tar.zst.gpg`), passFile, gnupg);
  gpgEncrypt(path.join(seedDir, "state.db"), path.join(store, `state_${SEED_STAMP}.db.gpg`), passFile, gnupg);
}, 180_000);

afterAll(() => {
  stopGpgAgents();
  rmSync(work, { recursive: true, force: true });
});

describe("the README's break-glass restore, run as written", () => {
  for (const layout of ["one copy", "two copies"] as const)
    it(`a Lifeboat set with ${layout}: the database, token, cred/ and tls/ the agent restores; the check prints the manifest's figures`, async () => {
      const set = layout === "one copy" ? lean : twoCopy;
      const ts = set.setId.replace(/^lifeboat-/, "");
      const manifest = manifestOf(set);

      // "Check each object's sha256sum against "sha256" in the manifest first."
      for (const o of manifest.objects) expect(execFileSync("sha256sum", [o.key], { cwd: store }).toString().split(" ")[0], o.key).toBe(o.sha256);

      const root = path.join(work, `root-${layout.replace(" ", "-")}`);
      mkdirSync(root);
      await runAsOperator(block(layout === "one copy" ? "_secrets.tar.zst.gpg" : "_server.tar.zst.gpg"), root, ts);
      const restored = path.join(root, "restore");
      expect((await runAsOperator(block("COUNT(*), MAX(id)"), root, ts)).trim().split("\n")).toEqual([
        "ok",
        `${manifest.database.rowCount}|${manifest.database.currentRevision}`,
      ]);

      const agent = await agentStages({ kind: "backup", setId: set.setId }, layout.replace(" ", "-"));
      const byHand = dumpKine(path.join(restored, "db", "state.db"));
      expect(byHand.rows.length).toBe(manifest.database.rowCount);
      expect(byHand.rows).toEqual(agent.db.rows);
      expect(byHand.compactRevision).toBe(agent.db.compactRevision);
      expect(existsSync(path.join(restored, "db", "state.db-wal"))).toBe(false);
      expect(
        filesBelow(
          restored,
          path.join(restored, "token"),
          existsSync(path.join(restored, "cred")) ? path.join(restored, "cred") : null,
          existsSync(path.join(restored, "tls")) ? path.join(restored, "tls") : null,
        ),
      ).toEqual(agent.files);
      expect(agent.files.token).toBe(source.token + "\n");
      expect(Object.keys(agent.files)).toContain(`tls/temporary-certs/${"x".repeat(120)}.crt`);

      // Then on the server, in the same shell: the restored database and token in place, the old db/ aside.
      const target = makeTestServer(path.join(work, `target-${layout.replace(" ", "-")}`), { seed: 62, marker: "marker-TARGET" });
      const opRoot = path.join(work, `root-swap-${layout.replace(" ", "-")}`);
      mkdirSync(opRoot);
      const unpack = block(layout === "one copy" ? "_secrets.tar.zst.gpg" : "_server.tar.zst.gpg");
      await runAsOperator(`${unpack}\n${block("mv db db.before-restore-")}`, opRoot, ts, target.serverDir);
      expect(readdirSync(path.join(target.serverDir, "db"))).toEqual(["state.db"]);
      expect(dumpKine(target.dbPath).rows).toEqual(agent.db.rows);
      expect(readFileSync(path.join(target.serverDir, "token"), "utf8")).toBe(source.token + "\n");
      const st = statSync(target.dbPath);
      expect({ uid: st.uid, gid: st.gid, mode: st.mode & 0o777, dir: statSync(path.dirname(target.dbPath)).mode & 0o777 }).toEqual({
        uid: 0,
        gid: 0,
        mode: 0o600,
        dir: 0o700,
      });
      const aside = readdirSync(target.serverDir).filter((n) => n.startsWith("db.before-restore-"));
      expect(aside).toHaveLength(1);
      expect(hasMarker(path.join(target.serverDir, aside[0], "state.db"), "marker-TARGET")).toBe(true);
    }, 120_000);

  it("a seed set: the logical backup and the file archive (its state.db-wal applied) both hold the write that was only in the WAL", async () => {
    const agentLogical = await agentStages({ kind: "object", key: `state_${SEED_STAMP}.db.gpg` }, "seed-logical");
    const agentFiles = await agentStages({ kind: "object", key: `k3s_db_${SEED_STAMP}.tar.zst.gpg` }, "seed-files");
    expect(agentFiles.walReplayed).toBe(true);
    const live = dumpKine(source.dbPath);
    expect(live.rows.some((r) => r.includes("only-in-the-wal"))).toBe(true);

    const root = path.join(work, "root-seed");
    mkdirSync(root);
    expect((await runAsOperator(block("state_${TS}.db.gpg"), root, SEED_STAMP)).trim()).toBe("ok");
    const logical = dumpKine(path.join(root, "state.db"));
    expect(logical.rows).toEqual(agentLogical.db.rows);
    expect(logical.rows).toEqual(live.rows);

    expect((await runAsOperator(block("k3s_db_${TS}.tar.zst.gpg"), root, SEED_STAMP)).trim().split("\n")).toContain("ok");
    expect(readdirSync(path.join(root, "seed")).sort()).toEqual(["state.db"]);
    const files = dumpKine(path.join(root, "seed", "state.db"));
    expect(files.rows).toEqual(agentFiles.db.rows);
    expect(files.rows).toEqual(live.rows);
  }, 120_000);

  it("recovering a damaged database by hand: every row the damage left, the old db/ kept, no -wal beside it", async () => {
    const server = path.join(work, "damaged", "server");
    mkdirSync(path.join(server, "db"), { recursive: true });
    const dbPath = path.join(server, "db", "state.db");
    const fixture = makeKineFixture(dbPath, { targetBytes: 1_000_000, seed: 63 });
    const original = path.join(work, "damaged", "original.db");
    copyFileSync(dbPath, original);
    const leaf = btreePages(dbPath, "kine").filter((p) => p.pagetype === "leaf" && p.ncell >= 3)[10];
    overwritePage(dbPath, leaf.pageno, fixture.pageSize, "zero");
    const root = path.join(work, "root-damaged");
    mkdirSync(root);
    const readme = readFileSync(path.join(ROOT, "README.md"), "utf8");
    const section = readme.slice(readme.indexOf("### Recovering a damaged database by hand"));
    const byHand = [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]).find((b) => b.includes(".dump"));
    expect(byHand).toBeDefined();
    expect((await runAsOperator(byHand!, root, SEED_STAMP, server)).trim()).toBe("ok");

    expect(readdirSync(path.join(server, "db"))).toEqual(["state.db"]);
    const recovered = dumpKine(dbPath).rows;
    const before = new Set(dumpKine(original).rows);
    expect(recovered.length).toBe(fixture.rows - leaf.ncell);
    expect(recovered.filter((r) => !before.has(r))).toEqual([]);
    const aside = readdirSync(server).filter((n) => n.startsWith("db.before-restore-"));
    expect(aside).toHaveLength(1);
    expect(readFileSync(path.join(server, aside[0], "state.db"))).toEqual(readFileSync(path.join(root, "db.damaged", "state.db")));
  }, 120_000);

  it("the agent's commands by hand run with the agent's settings (its server dir, not the default one)", async () => {
    const readme = readFileSync(path.join(ROOT, "README.md"), "utf8");
    const section = readme.slice(readme.indexOf("### Recovering a damaged database by hand"));
    const commands = [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]).find((b) => b.includes("lifeboat-agent health"))!;
    const lines = commands.split("\n");
    const upToHealth = lines.slice(0, lines.findIndex((l) => l.startsWith("lifeboat-agent health")) + 1).join("\n");
    const envFile = path.join(work, "agent.env");
    writeFileSync(
      envFile,
      [
        `LIFEBOAT_K3S_SERVER_DIR=${source.serverDir}`,
        `LIFEBOAT_STATE_DIR=${path.join(work, "agent-state")}`,
        `LIFEBOAT_BACKUP_DIR=${store}`,
        `LIFEBOAT_PASSPHRASE_FILE=${passFile}`,
        'LIFEBOAT_K3S_STATUS_CMD="echo active"',
        "",
      ].join("\n"),
      { mode: 0o600 },
    );
    const script = upToHealth
      .replaceAll("/etc/lifeboat/agent.env", envFile)
      .replaceAll("lifeboat-agent ", `${path.join(ROOT, "agent/bin/lifeboat-agent.js")} `);
    // Nothing of this process's settings: only what the README's line loads.
    const cleared = Object.fromEntries(Object.keys(process.env).flatMap((k) => (/^(LIFEBOAT_|AWS_)/.test(k) ? [[k, undefined]] : [])));
    const run = await runProcess("bash", ["-c", script], { cwd: work, env: { ...process.env, ...cleared, HOME: work }, timeoutMs: 120_000 });
    expect(JSON.parse(run.stdout), run.stderr).toMatchObject({ serverDir: source.serverDir });
  }, 150_000);
});
