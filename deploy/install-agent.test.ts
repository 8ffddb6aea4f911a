import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, lstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseConfigFile } from "../agent/config";
import { parseFingerprint } from "../lib/contracts/agent-tls";

/**
 * deploy/install-agent.sh into a throwaway root (--root), run twice: what it makes and with which
 * modes, what it prints for the dashboard, that the second run changes nothing — in particular
 * nothing the operator changed in between — and the shipped unit passes Debian's
 * `systemd-analyze verify` without a single warning.
 */

const CHECKOUT = path.resolve(import.meta.dirname, "..");
const SCRIPT = path.join(CHECKOUT, "deploy", "install-agent.sh");
const isRoot = process.getuid?.() === 0;

let root: string;
let first: string;
const etc = (...p: string[]) => path.join(root, "etc", "lifeboat", ...p);
const mode = (p: string) => (statSync(p).mode & 0o777).toString(8).padStart(4, "0");
const install = (...args: string[]) => execFileSync("bash", [SCRIPT, "--root", root, "--no-build", ...args], { encoding: "utf8", timeout: 60_000 });
const snapshot = () =>
  Object.fromEntries(
    ["passphrase", "agent-token", "agent.env", "tls/agent.crt", "tls/agent.key"].map((f) => [f, { text: readFileSync(etc(f), "utf8"), mode: mode(etc(f)) }]),
  );

beforeAll(() => {
  root = mkdtempSync(path.join(tmpdir(), "lifeboat-install-"));
  first = install();
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe.skipIf(!isRoot)("deploy/install-agent.sh --root", () => {
  it("makes /etc/lifeboat 0700 with the passphrase, a token of 32+ characters and the TLS key 0600, and the env file from the template", () => {
    expect(mode(etc())).toBe("0700");
    expect(mode(etc("tls"))).toBe("0700");
    for (const f of ["passphrase", "agent-token", "agent.env", "tls/agent.key"]) expect({ f, mode: mode(etc(f)) }).toEqual({ f, mode: "0600" });
    expect(statSync(etc("passphrase")).uid).toBe(0);
    const token = readFileSync(etc("agent-token"), "utf8").trim();
    expect(token).toMatch(/^[A-Za-z0-9_-]{48}$/);
    expect(readFileSync(etc("passphrase"), "utf8").trim().length).toBeGreaterThanOrEqual(32);
    const env = parseConfigFile(readFileSync(etc("agent.env"), "utf8"));
    expect(env).toMatchObject({
      LIFEBOAT_PASSPHRASE_FILE: "/etc/lifeboat/passphrase",
      LIFEBOAT_AGENT_TOKEN_FILE: "/etc/lifeboat/agent-token",
      LIFEBOAT_AGENT_TLS_CERT: "/etc/lifeboat/tls/agent.crt",
      LIFEBOAT_AGENT_TLS_KEY: "/etc/lifeboat/tls/agent.key",
    });
    expect(readFileSync(etc("agent.env"), "utf8")).toBe(readFileSync(path.join(CHECKOUT, "deploy", "agent.env"), "utf8"));
    // The key and the certificate belong together.
    const pub = (args: string[]) => execFileSync("openssl", args, { encoding: "utf8" });
    expect(pub(["pkey", "-in", etc("tls/agent.key"), "-pubout"])).toBe(pub(["x509", "-in", etc("tls/agent.crt"), "-noout", "-pubkey"]));
  });

  it("links the command, installs and enables the unit", () => {
    expect(readlinkSync(path.join(root, "usr/local/bin/lifeboat-agent"))).toBe(path.join(CHECKOUT, "agent/bin/lifeboat-agent.js"));
    const unit = path.join(root, "etc/systemd/system/lifeboat-agent.service");
    expect(readFileSync(unit, "utf8")).toBe(readFileSync(path.join(CHECKOUT, "deploy/lifeboat-agent.service"), "utf8"));
    expect(mode(unit)).toBe("0644");
    const wants = path.join(root, "etc/systemd/system/multi-user.target.wants/lifeboat-agent.service");
    expect(lstatSync(wants).isSymbolicLink()).toBe(true);
    expect(readlinkSync(wants)).toBe("/etc/systemd/system/lifeboat-agent.service");
  });

  it("prints what the dashboard needs: the URL, the token file, and the certificate's SHA-256 fingerprint", () => {
    const fp = /LIFEBOAT_AGENT_FINGERPRINT=(\S+)/.exec(first)?.[1] ?? "";
    const openssl = execFileSync("openssl", ["x509", "-in", etc("tls/agent.crt"), "-noout", "-fingerprint", "-sha256"], { encoding: "utf8" });
    expect(parseFingerprint(fp)).toBe(fp);
    expect(parseFingerprint(openssl)).toBe(fp);
    expect(first).toMatch(/LIFEBOAT_AGENT_URL=https:\/\/\S+:7070/);
    expect(first).toContain("LIFEBOAT_AGENT_TOKEN_FILE=");
    // The secrets themselves are never printed.
    expect(first).not.toContain(readFileSync(etc("agent-token"), "utf8").trim());
    expect(first).not.toContain(readFileSync(etc("passphrase"), "utf8").trim());
  });

  it("is idempotent: a second run keeps every secret, the operator's agent.env and their changed unit", () => {
    const before = snapshot();
    writeFileSync(etc("agent.env"), readFileSync(etc("agent.env"), "utf8") + "AWS_S3_BUCKET=my-bucket\n");
    const unit = path.join(root, "etc/systemd/system/lifeboat-agent.service");
    const changedUnit = readFileSync(unit, "utf8").replace("RestartSec=5", "RestartSec=30");
    writeFileSync(unit, changedUnit);
    const edited = snapshot();

    const second = install();
    expect(snapshot()).toEqual(edited);
    expect(edited["agent-token"]).toEqual(before["agent-token"]);
    expect(readFileSync(unit, "utf8")).toBe(changedUnit);
    expect(readFileSync(unit + ".dist", "utf8")).toBe(readFileSync(path.join(CHECKOUT, "deploy/lifeboat-agent.service"), "utf8"));
    expect(second).toContain("differs from the shipped one and is kept");
    expect(second).not.toMatch(/a new (random one|one)/);
    // Same certificate, same fingerprint: the dashboard's pin stays valid.
    expect(/LIFEBOAT_AGENT_FINGERPRINT=(\S+)/.exec(second)?.[1]).toBe(/LIFEBOAT_AGENT_FINGERPRINT=(\S+)/.exec(first)?.[1]);
  });

  it("refuses a --passphrase-file that differs from the passphrase already installed, and changes nothing", () => {
    const other = mkdtempSync(path.join(tmpdir(), "lifeboat-install-pass-"));
    try {
      const kept = readFileSync(etc("passphrase"), "utf8");
      const seed = path.join(other, "gpg-passphrase");
      writeFileSync(seed, "the seed job's passphrase\n", { mode: 0o600 });
      const before = snapshot();
      const r = spawnSync("bash", [SCRIPT, "--root", root, "--no-build", "--passphrase-file", seed], { encoding: "utf8", timeout: 60_000 });
      expect(r.status, r.stdout + r.stderr).toBe(1);
      expect(r.stderr).toContain(`${etc("passphrase")} already holds another passphrase`);
      expect(r.stdout + r.stderr).not.toContain(kept.trim());
      expect(snapshot()).toEqual(before);
      // The same file again (the README's command, run a second time) is fine.
      writeFileSync(seed, kept);
      expect(spawnSync("bash", [SCRIPT, "--root", root, "--no-build", "--passphrase-file", seed], { encoding: "utf8", timeout: 60_000 }).status).toBe(0);
      // A file that is not there stops before anything is made.
      const missing = spawnSync("bash", [SCRIPT, "--root", path.join(other, "fresh"), "--no-build", "--passphrase-file", path.join(other, "nope")], {
        encoding: "utf8",
        timeout: 60_000,
      });
      expect(missing.status).toBe(1);
      expect(missing.stderr).toContain("cannot read");
      expect(existsSync(path.join(other, "fresh", "etc"))).toBe(false);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });

  it("puts loose modes back to 0600/0700 on a second run", () => {
    execFileSync("chmod", ["0755", etc()]);
    execFileSync("chmod", ["0644", etc("agent-token"), etc("tls/agent.key")]);
    install();
    expect([mode(etc()), mode(etc("agent-token")), mode(etc("tls/agent.key"))]).toEqual(["0700", "0600", "0600"]);
  });
});

describe("deploy/lifeboat-agent.service", () => {
  it("passes systemd-analyze verify (Debian's systemd) without a warning", () => {
    // verify insists that ExecStart's program exists: point it at the checkout's bin, the link's target.
    const dir = mkdtempSync(path.join(tmpdir(), "lifeboat-unit-"));
    try {
      const unit = readFileSync(path.join(CHECKOUT, "deploy/lifeboat-agent.service"), "utf8");
      expect(unit).toMatch(/^ExecStart=\/usr\/local\/bin\/lifeboat-agent serve$/m);
      writeFileSync(
        path.join(dir, "lifeboat-agent.service"),
        unit.replace("ExecStart=/usr/local/bin/lifeboat-agent", `ExecStart=${path.join(CHECKOUT, "agent/bin/lifeboat-agent.js")}`),
      );
      const r = spawnSync("systemd-analyze", ["verify", path.join(dir, "lifeboat-agent.service")], { encoding: "utf8", timeout: 60_000 });
      expect(r.error, "systemd-analyze is missing: apt-get install systemd (.ci/run installs it)").toBeUndefined();
      // verify exits 0 on "Unknown key … ignoring": any output is a failure here.
      expect({ status: r.status, out: (r.stdout + r.stderr).trim() }).toEqual({ status: 0, out: "" });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("the dashboard's unit (deploy/lifeboat-dashboard.service) passes systemd-analyze verify too", () => {
    const r = spawnSync("systemd-analyze", ["verify", path.join(CHECKOUT, "deploy/lifeboat-dashboard.service")], { encoding: "utf8", timeout: 60_000 });
    expect(r.error, "systemd-analyze is missing: apt-get install systemd (.ci/run installs it)").toBeUndefined();
    expect({ status: r.status, out: (r.stdout + r.stderr).trim() }).toEqual({ status: 0, out: "" });
  });

  it("reads its settings from /etc/lifeboat/agent.env and runs `lifeboat-agent serve` as root with umask 0077", () => {
    const unit = readFileSync(path.join(CHECKOUT, "deploy/lifeboat-agent.service"), "utf8");
    expect(unit).toMatch(/^EnvironmentFile=\/etc\/lifeboat\/agent\.env$/m);
    expect(unit).toMatch(/^UMask=0077$/m);
    expect(unit).toMatch(/^WantedBy=multi-user\.target$/m);
  });
});
