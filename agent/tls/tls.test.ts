import { execFileSync, spawnSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { AgentClient } from "../../lib/agent/agent-client";
import { parseFingerprint } from "../../lib/contracts/agent-tls";
import { parseEnv } from "../../lib/env";
import { agentTransportWarning } from "../../lib/agent/transport";
import { startProcess, waitForListeningInfo } from "../../lib/process";
import { loadAgentConfig } from "../config";
import { makeDeps } from "../deps";
import { agentModules } from "../modules";
import { buildAgentApp, type AgentApp } from "../server";
import { loadAgentTls } from "./certificate";
import { makeSelfSigned } from "./self-signed";

/**
 * The agent's transport (issue 10): HTTPS with a self-signed certificate made once, pinned by the
 * dashboard; a wrong pin, plain HTTP to another machine and a short token are refused; `file`
 * restore sources over HTTP only from LIFEBOAT_RESTORE_FILE_DIRS.
 */

const TOKEN = "tls-test-agent-token-0123456789abcdef";
let work: string;
let app: AgentApp;
let url: string;
let fingerprint: string;
let probes = 0;

beforeAll(async () => {
  work = mkdtempSync(path.join(tmpdir(), "lifeboat-tls-"));
  const config = loadAgentConfig({
    LIFEBOAT_K3S_SERVER_DIR: path.join(work, "server"),
    LIFEBOAT_STATE_DIR: path.join(work, "state"),
    LIFEBOAT_AGENT_TOKEN: TOKEN,
    LIFEBOAT_RESTORE_FILE_DIRS: `${path.join(work, "allowed")}:${path.join(work, "open")}`,
    LOG_LEVEL: "silent",
  });
  const tls = loadAgentTls(config);
  fingerprint = tls.fingerprint;
  const deps = makeDeps(config, { logDestination: pino.destination("/dev/null") });
  // A route that counts the requests that reached the agent's handlers.
  const probe = { name: "probe", routes: (r: AgentApp["router"]) => r.add({ method: "GET", path: "/probe", handler: () => ({ n: ++probes }) }) };
  app = buildAgentApp(deps, [...agentModules, probe], { tls });
  url = (await app.listen(0, "127.0.0.1")).url;
});
afterAll(async () => {
  await app?.close();
  rmSync(work, { recursive: true, force: true });
});

const Probe = z.object({ n: z.number() });
const client = (opts: Partial<ConstructorParameters<typeof AgentClient>[0]> = {}) => new AgentClient({ baseUrl: url, token: TOKEN, ...opts });

describe("the agent's certificate", () => {
  it("is made once in the state dir (key 0600, directory 0700) and kept", () => {
    expect(url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const dir = path.join(work, "state", "tls");
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(path.join(dir, "agent.key")).mode & 0o777).toBe(0o600);
    const again = loadAgentTls({ stateDir: path.join(work, "state") });
    expect(again).toMatchObject({ fingerprint, created: false, source: "self-signed" });
  });

  it("is a certificate openssl reads, with the fingerprint both ends print", () => {
    const made = makeSelfSigned("pi-1", ["pi-1", "127.0.0.1", "::1", "10.0.0.7"]);
    const x = new X509Certificate(made.cert);
    expect(x.subjectAltName).toBe("DNS:pi-1, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, IP Address:10.0.0.7");
    if (spawnSync("openssl", ["version"]).status !== 0) return;
    const pem = path.join(work, "c.pem");
    writeFileSync(pem, made.cert);
    const out = execFileSync("openssl", ["x509", "-in", pem, "-noout", "-fingerprint", "-sha256"], { encoding: "utf8" });
    expect(parseFingerprint(out)).toBe(parseFingerprint(x.fingerprint256));
  });
});

describe("the dashboard's client", () => {
  it("talks HTTPS to an agent whose fingerprint it pins", async () => {
    const got = await client({ tls: { fingerprint } }).request("GET", "/probe", Probe);
    expect(got.n).toBe(probes);
    // Any spelling of the fingerprint pins the same certificate.
    expect(parseFingerprint(fingerprint.replace(/:/g, "").toLowerCase())).toBe(fingerprint);
  });

  it("refuses a wrong fingerprint with both fingerprints named, before sending anything", async () => {
    const before = probes;
    const wrong = "AB:".repeat(31) + "AB";
    const err = await client({ tls: { fingerprint: wrong, pinSource: "LIFEBOAT_AGENT_FINGERPRINT" } })
      .request("GET", "/probe", Probe)
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "agent_tls", status: 502 });
    expect((err as Error).message).toContain(fingerprint);
    expect((err as Error).message).toContain(`LIFEBOAT_AGENT_FINGERPRINT is ${wrong}`);
    expect((err as Error).message).not.toContain(TOKEN);
    expect(probes).toBe(before);
  });

  it("refuses a self-signed agent it was given no fingerprint or CA for", async () => {
    const err = await client()
      .request("GET", "/probe", Probe)
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "agent_tls" });
    expect((err as Error).message).toMatch(/not trusted .*fingerprint/);
  });

  it("refuses plain HTTP to another machine unless LIFEBOAT_AGENT_INSECURE_HTTP, and then warns", () => {
    expect(() => new AgentClient({ baseUrl: "http://192.168.1.20:7070", token: TOKEN })).toThrow(/plain HTTP to another machine/);
    expect(() => new AgentClient({ baseUrl: "http://127.0.0.1:7070", token: TOKEN })).not.toThrow();
    expect(() => new AgentClient({ baseUrl: "http://192.168.1.20:7070", token: TOKEN, allowInsecureHttp: true })).not.toThrow();
    const base = { LIFEBOAT_DATA_DIR: work, LIFEBOAT_AGENT_TOKEN: TOKEN };
    expect(() => parseEnv({ ...base, LIFEBOAT_AGENT_URL: "http://192.168.1.20:7070" })).toThrow(/LIFEBOAT_AGENT_URL: plain http/);
    const env = parseEnv({ ...base, LIFEBOAT_AGENT_URL: "http://192.168.1.20:7070", LIFEBOAT_AGENT_INSECURE_HTTP: "true" });
    expect(agentTransportWarning(env)).toMatch(/plain HTTP/);
    expect(agentTransportWarning(parseEnv({ ...base, LIFEBOAT_AGENT_URL: "https://192.168.1.20:7070" }))).toBeNull();
  });

  it("refuses an agent token shorter than 32 characters at both ends", () => {
    expect(() => loadAgentConfig({ LIFEBOAT_AGENT_TOKEN: "short-token" })).toThrow(/LIFEBOAT_AGENT_TOKEN: shorter than 32/);
    expect(() => parseEnv({ LIFEBOAT_DATA_DIR: work, LIFEBOAT_AGENT_URL: "https://a:7070", LIFEBOAT_AGENT_TOKEN: "short-token" })).toThrow(
      /LIFEBOAT_AGENT_TOKEN: shorter than 32/,
    );
  });
});

describe("host files named over HTTP (restore sources, recovery paths)", () => {
  const start = (p: string) =>
    client({ tls: { fingerprint } })
      .startRestore({ source: { kind: "file", path: p }, dryRun: true })
      .catch((e: unknown) => e);

  it("are refused outside LIFEBOAT_RESTORE_FILE_DIRS, the same way whether the path exists or not", async () => {
    const a = await start("/etc/passwd");
    const b = await start("/etc/no-such-file-here");
    expect(a).toMatchObject({ code: "forbidden", status: 403 });
    expect((a as Error).message.replace("/etc/passwd", "X")).toBe((b as Error).message.replace("/etc/no-such-file-here", "X"));
    // `..` cannot climb out, nor can a symbolic link.
    mkdirSync(path.join(work, "allowed"), { recursive: true, mode: 0o700 });
    expect(await start(path.join(work, "allowed", "..", "state", "tls", "agent.key"))).toMatchObject({ code: "forbidden" });
    execFileSync("ln", ["-s", "/etc/passwd", path.join(work, "allowed", "link.db")]);
    expect(await start(path.join(work, "allowed", "link.db"))).toMatchObject({ code: "forbidden" });
  });

  it("are refused from a directory every user may write", async () => {
    mkdirSync(path.join(work, "open"), { recursive: true });
    chmodSync(path.join(work, "open"), 0o777);
    writeFileSync(path.join(work, "open", "state.db"), "SQLite format 3\0");
    const err = await start(path.join(work, "open", "state.db"));
    expect(err).toMatchObject({ code: "forbidden" });
    expect((err as Error).message).toMatch(/writable by every user/);
  });

  it("and a recovery's path, the same way", async () => {
    const err = await client({ tls: { fingerprint } })
      .startRecovery({ path: "/etc/shadow" })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "forbidden", status: 403 });
  });

  it("pass the check inside an allowed directory (a missing file is then just missing)", async () => {
    expect(await start(path.join(work, "allowed", "missing.db"))).toMatchObject({ code: "not_found" });
  });
});

describe("lifeboat-agent serve and status", () => {
  it("serve answers HTTPS, names the address it really listens on and prints the same fingerprint at every start, as status does", async () => {
    const state = path.join(work, "serve-state");
    const env = {
      ...process.env,
      LIFEBOAT_AGENT_TSX: "1",
      LIFEBOAT_K3S_SERVER_DIR: path.join(work, "server"),
      LIFEBOAT_STATE_DIR: state,
      LIFEBOAT_AGENT_TOKEN: TOKEN,
      LIFEBOAT_AGENT_HOST: "0.0.0.0",
      LIFEBOAT_AGENT_PORT: "0",
      LIFEBOAT_BACKUP_SCHEDULE: "off",
      LIFEBOAT_INTEGRITY_SCHEDULE: "off",
      LOG_LEVEL: "warn",
    };
    const bin = path.resolve("agent/bin/lifeboat-agent.js");
    const prints: string[] = [];
    for (let i = 0; i < 2; i++) {
      const proc = startProcess(process.execPath, [bin, "serve"], { env });
      try {
        const info = await waitForListeningInfo(proc, { timeoutMs: 60_000 });
        expect(info.listening).toMatch(/^https:\/\/0\.0\.0\.0:\d+$/);
        await expect.poll(() => proc.output(), { timeout: 10_000 }).toContain(`SHA-256 fingerprint: ${info.fingerprint}`);
        expect(proc.output()).toContain("(every address of this host)");
        prints.push(info.fingerprint!);
        const port = new URL(info.listening).port;
        const res = await new AgentClient({ baseUrl: `https://127.0.0.1:${port}`, token: TOKEN, tls: { fingerprint: info.fingerprint } }).request(
          "GET",
          "/version",
          z.object({ version: z.string() }),
        );
        expect(res.version).toBeTruthy();
      } finally {
        await proc.stop();
      }
    }
    expect(prints[0]).toBe(prints[1]);
    const status = execFileSync(process.execPath, [bin, "status", "--json"], { env, encoding: "utf8" });
    expect(JSON.parse(status)).toMatchObject({ fingerprint: prints[0], tls: "self-signed", listen: "https://0.0.0.0:0" });
  }, 180_000);
});
