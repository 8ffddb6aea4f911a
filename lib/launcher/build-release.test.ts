import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { freePort } from "../net/ports";
import { runProcess, startProcess, waitForHttp, type RunningProcess } from "../process";
import { buildRelease } from "./build-release";

/**
 * `npm run build:release` end to end: the tarball and its checksum, every file inside matching
 * SHA256SUMS (checked by sha256sum itself), and — unpacked somewhere else, away from the checkout
 * and its node_modules — the dashboard starting from it and answering /api/livez, and the agent
 * answering from its bundle. Slow (a standalone `next build`): set LIFEBOAT_RELEASE_TARBALL to a
 * tarball already built to check that one instead.
 */

let out: string;
let tarball: string;
let unpacked: string;
let dashboard: RunningProcess | undefined;

beforeAll(() => {
  out = mkdtempSync(path.join(tmpdir(), "lifeboat-release-"));
  tarball = process.env.LIFEBOAT_RELEASE_TARBALL || buildRelease(out);
}, 900_000);
afterAll(async () => {
  await dashboard?.stop();
  rmSync(out, { recursive: true, force: true });
});

describe("npm run build:release", () => {
  it("makes a tarball with its checksum, whose files all match SHA256SUMS", async () => {
    expect(path.basename(tarball)).toMatch(new RegExp(`^lifeboat-\\d+\\.\\d+\\.\\d+-${process.platform}-${process.arch}\\.tar\\.gz$`));
    const sum = await runProcess("sha256sum", ["-c", `${path.basename(tarball)}.sha256`], { cwd: path.dirname(tarball) });
    expect(sum.code, sum.stdout + sum.stderr).toBe(0);
    unpacked = path.join(out, "unpacked");
    expect((await runProcess("sh", ["-c", `mkdir -p '${unpacked}' && tar -xzf '${tarball}' -C '${unpacked}'`])).code).toBe(0);
    const [dir] = readdirSync(unpacked);
    unpacked = path.join(unpacked, dir);
    const check = await runProcess("sha256sum", ["--quiet", "-c", "SHA256SUMS"], { cwd: unpacked });
    expect(check.code, check.stdout + check.stderr).toBe(0);
    const listed = readFileSync(path.join(unpacked, "SHA256SUMS"), "utf8").trim().split("\n").length;
    expect(listed).toBeGreaterThan(100);
    for (const f of [
      "dashboard/lifeboat-dashboard.mjs",
      "dashboard/lifeboat-users.cjs",
      "agent/lifeboat-agent.mjs",
      "agent/dist/cli.js",
      "deploy/install-agent.sh",
      "deploy/kubernetes/deployment.yaml",
    ])
      expect(existsSync(path.join(unpacked, f)), f).toBe(true);
    expect(existsSync(path.join(unpacked, "deploy/install-agent.test.ts"))).toBe(false);
    // The dashboard is the server Next.js traced, not the checkout: a file access it could not follow
    // (lib/db/database.ts's, before its turbopackIgnore) made it trace the whole project, so the
    // tarball carried the sources, the tests and whatever lay in the checkout (bench/out: gigabytes,
    // and the bench's passphrase file).
    for (const d of ["app", "components", "e2e", "bench", "docs", "agent", "test-results"])
      expect(existsSync(path.join(unpacked, "dashboard", d)), `dashboard/${d}`).toBe(false);
  });

  it("the dashboard starts from the unpacked release, answers /api/livez, and knows who is connected", async () => {
    const port = await freePort();
    const data = mkdtempSync(path.join(out, "data-"));
    dashboard = startProcess(process.execPath, [path.join(unpacked, "dashboard", "lifeboat-dashboard.mjs")], {
      cwd: out,
      // No checkout around it: only the release's own files and what the environment says. Single
      // sign-on trusts 127.0.0.1 as its proxy: only a front that sees the TCP peer can honour that.
      env: {
        PATH: process.env.PATH,
        NODE_ENV: "production",
        PORT: String(port),
        LIFEBOAT_HOST: "127.0.0.1",
        LIFEBOAT_DATA_DIR: data,
        NEXT_TELEMETRY_DISABLED: "1",
        LIFEBOAT_AUTH: "proxy",
        LIFEBOAT_TRUSTED_PROXIES: "127.0.0.1",
        LIFEBOAT_PROXY_ROLES: "lifeboat-ops=operator",
      },
    });
    await waitForHttp(`http://127.0.0.1:${port}/api/livez`, { timeoutMs: 60_000, what: "the released dashboard", proc: dashboard });
    expect((await fetch(`http://127.0.0.1:${port}/api/livez`)).status).toBe(200);
    // Pages need a signed-in user: the sign-in page answers.
    expect((await fetch(`http://127.0.0.1:${port}/login`)).status).toBe(200);
    // The user header from the trusted proxy (this test, on 127.0.0.1) signs alice in. Next.js's bare
    // standalone server.js cannot tell the peer, so there the same request is refused (401).
    const me = await fetch(`http://127.0.0.1:${port}/api/auth/me`, { headers: { "Remote-User": "alice", "Remote-Groups": "lifeboat-ops" } });
    expect({ status: me.status, body: await me.json() }).toMatchObject({ status: 200, body: { name: "alice", role: "operator", kind: "proxy" } });
    // The front refuses a declared body over 1 MiB before anything reads it.
    const big = await fetch(`http://127.0.0.1:${port}/api/auth/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "x".repeat(1024 * 1024 + 1),
    });
    expect(big.status).toBe(413);

    // A locked-out admin's way back, from the release alone: the bundled accounts command on the
    // running dashboard's data, then the new password signs in.
    const users = (args: string[]) =>
      runProcess(process.execPath, [path.join(unpacked, "dashboard", "lifeboat-users.cjs"), ...args], {
        cwd: out,
        env: { PATH: process.env.PATH, NODE_ENV: "production", LIFEBOAT_DATA_DIR: data },
        timeoutMs: 60_000,
      });
    const reset = await users(["reset-password", "admin"]);
    expect(reset.code, reset.stderr).toBe(0);
    const password = reset.stdout.match(/^ {2}(\S+)$/m)?.[1];
    expect(password, reset.stdout).toBeDefined();
    expect((await users(["list"])).stdout).toMatch(/^admin\tadmin\t/m);
    const login = await fetch(`http://127.0.0.1:${port}/api/auth/login`, {
      method: "POST",
      headers: { "content-type": "application/json", origin: `http://127.0.0.1:${port}` },
      body: JSON.stringify({ name: "admin", password }),
    });
    expect(login.status).toBe(200);
  }, 120_000);

  it("the agent runs from its bundle in the release", async () => {
    const version = JSON.parse(readFileSync(path.resolve(import.meta.dirname, "../../package.json"), "utf8")).version;
    const r = await runProcess(process.execPath, [path.join(unpacked, "agent", "lifeboat-agent.mjs"), "--version"], {
      cwd: out,
      env: { NODE_ENV: "production", PATH: process.env.PATH },
    });
    expect({ code: r.code, out: r.stdout.trim() }).toEqual({ code: 0, out: version });
    // doctor loads the native modules' users (SQLite, the store): it answers, here with problems (no store).
    const doctor = await runProcess(process.execPath, [path.join(unpacked, "agent", "lifeboat-agent.mjs"), "doctor", "--json"], {
      cwd: out,
      env: { NODE_ENV: "production", PATH: process.env.PATH, LIFEBOAT_K3S_SERVER_DIR: path.join(out, "none") },
      timeoutMs: 60_000,
    });
    expect(doctor.code, doctor.stderr).toBe(1);
    expect(JSON.parse(doctor.stdout).checks.find((c: { id: string }) => c.id === "store").level).toBe("problem");
  }, 90_000);
});
