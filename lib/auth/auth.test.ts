import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { openDatabase } from "../db/database";
import { migrations } from "../db/migrations";
import { PEER_HEADER, PEER_MARK } from "../http/peer";
import { hostAllowed, INITIAL_PASSWORD_FILE, parseAuthConfig, readTokensFile, secretHash, type AuthEnv } from "./config";
import { generatePassword, hashPassword, verifyPassword } from "./passwords";
import { authenticate, clientAddress, peerAddress, readCookie } from "./principal";
import { FailureLimiter, LOGIN_LIMITS } from "./rate-limit";
import { updateUser } from "./accounts";
import { ensureInitialAdmin } from "./bootstrap";
import { createSession, lookupSession } from "./sessions";
import { createToken, lookupToken } from "./api-tokens";
import { deleteUser, insertUser } from "./users";

const tmp = (p: string) => mkdtempSync(path.join(tmpdir(), p));
const ENV: AuthEnv = {
  LIFEBOAT_AUTH: "local",
  LIFEBOAT_PROXY_USER_HEADER: "Remote-User",
  LIFEBOAT_PROXY_GROUPS_HEADER: "Remote-Groups",
  LIFEBOAT_SESSION_IDLE_SECONDS: 60,
  LIFEBOAT_SESSION_MAX_SECONDS: 600,
};

describe("passwords", () => {
  it("hash with a salt of their own, verify, and refuse a wrong or missing user the same way", async () => {
    const a = await hashPassword("correct horse battery");
    const b = await hashPassword("correct horse battery");
    expect(a).toMatch(/^scrypt\$32768\$8\$1\$/);
    expect(a).not.toBe(b);
    expect(await verifyPassword("correct horse battery", a)).toBe(true);
    expect(await verifyPassword("correct horse batterz", a)).toBe(false);
    expect(await verifyPassword("correct horse battery", null)).toBe(false);
    expect(await verifyPassword("x", "scrypt$1$1$1$AA==$AA==")).toBe(false);
  });

  it("generates 24 characters without look-alikes", () => {
    const p = generatePassword();
    expect(p).toMatch(/^[a-km-zA-HJ-NP-Z2-9]{24}$/);
    expect(generatePassword()).not.toBe(p);
  });
});

describe("sessions", () => {
  it("end after the idle time, at the absolute end, and keep only a hash in the database", () => {
    const db = openDatabase(tmp("lifeboat-sess-"));
    const user = insertUser(db, "ann", "operator", "x");
    const times = { idleMs: 60_000, maxMs: 600_000 };
    const t0 = 1_000_000;
    const s = createSession(db, user.id, times, "10.0.0.9", t0);
    expect(db.prepare("SELECT id_hash FROM sessions").pluck().get()).not.toContain(s.id);
    expect(lookupSession(db, s.id, times, t0 + 59_000)).toMatchObject({ name: "ann", role: "operator" });
    // Seen at 59 s: alive until 119 s; seen at 118 s: until 178 s.
    expect(lookupSession(db, s.id, times, t0 + 118_000)).not.toBeNull();
    expect(lookupSession(db, s.id, times, t0 + 177_000)).not.toBeNull();
    expect(lookupSession(db, s.id, times, t0 + 237_001)).toBeNull(); // idle just over 60 s
    const s2 = createSession(db, user.id, times, null, t0);
    for (let t = t0; t < t0 + 600_000; t += 50_000) expect(lookupSession(db, s2.id, times, t)).not.toBeNull();
    expect(lookupSession(db, s2.id, times, t0 + 600_000)).toBeNull(); // absolute
    expect(lookupSession(db, "nonsense", times, t0)).toBeNull();
  });
});

describe("failed sign-in limiter", () => {
  it("refuses past the limit until the oldest failure leaves the window", () => {
    const l = new FailureLimiter(openDatabase(tmp("lifeboat-limit-")), "user", { max: 3, windowMs: 1000 });
    for (const t of [0, 100, 200]) {
      expect(l.retryAfterMs("k", t)).toBe(0);
      l.fail("k", t);
    }
    expect(l.retryAfterMs("k", 300)).toBe(700);
    expect(l.retryAfterMs("other", 300)).toBe(0);
    expect(l.retryAfterMs("k", 1001)).toBe(0);
  });
});

describe("API tokens", () => {
  it("are kept as hashes, found by the token, and from the file by line", () => {
    const dir = tmp("lifeboat-tok-");
    const db = openDatabase(dir);
    const made = createToken(db, "prometheus", "viewer", "admin", null);
    expect(made.token.length).toBeGreaterThanOrEqual(32);
    expect(JSON.stringify(db.prepare("SELECT * FROM api_tokens").all())).not.toContain(made.token);
    const file = path.join(dir, "tokens");
    writeFileSync(file, `# scripts\noperator ${"o".repeat(40)}\n\nadmin ${"a".repeat(32)}\n`);
    const fileTokens = readTokensFile(file);
    expect(fileTokens.map((t) => [t.role, t.name])).toEqual([
      ["operator", "tokens file, line 2"],
      ["admin", "tokens file, line 4"],
    ]);
    expect(lookupToken(db, fileTokens, made.token)).toMatchObject({ name: "prometheus", role: "viewer", source: "ui" });
    expect(lookupToken(db, fileTokens, "a".repeat(32))).toMatchObject({ role: "admin", source: "file" });
    expect(lookupToken(db, fileTokens, "b".repeat(32))).toBeNull();
  });

  it("made before their maker was recorded (migration 43) are linked to the user of that name", () => {
    const dir = tmp("lifeboat-tok-");
    const old = openDatabase(
      dir,
      migrations.filter((m) => m.id < 43),
    );
    const bob = insertUser(old, "bob", "operator", "x");
    old
      .prepare("INSERT INTO api_tokens (id, name, role, token_hash, created_at, created_by) VALUES ('t1', 'ci', 'admin', ?, '2026-01-01', 'BOB')")
      .run(secretHash("a".repeat(40)));
    old
      .prepare(
        "INSERT INTO api_tokens (id, name, role, token_hash, created_at, created_by) VALUES ('t2', 'prom', 'admin', ?, '2026-01-01', 'tokens file, line 1')",
      )
      .run(secretHash("b".repeat(40)));
    old.close();
    const db = openDatabase(dir);
    expect(lookupToken(db, [], "a".repeat(40))).toMatchObject({ name: "ci", role: "operator" });
    expect(lookupToken(db, [], "b".repeat(40))).toMatchObject({ name: "prom", role: "admin" });
    deleteUser(db, bob.id);
    expect(lookupToken(db, [], "a".repeat(40))).toBeNull();
  });

  it("refuses a file line that is short or malformed, naming the line but never the token", () => {
    const dir = tmp("lifeboat-tok-");
    const file = path.join(dir, "tokens");
    writeFileSync(file, "viewer shorttoken123\n");
    expect(() => readTokensFile(file)).toThrow(/line 1 .* shorter than 32/);
    expect(() => readTokensFile(file)).not.toThrow(/shorttoken/);
    writeFileSync(file, `root ${"r".repeat(40)}\n`);
    expect(() => readTokensFile(file)).toThrow(/line 1 .*<role> <token>/);
  });
});

describe("credentials a request carries", () => {
  const cfg = parseAuthConfig(ENV);
  const db = openDatabase(tmp("lifeboat-creds-"));
  const sid = createSession(db, insertUser(db, "ann", "operator", "x").id, { idleMs: 60_000, maxMs: 600_000 }, null).id;
  const token = createToken(db, "ci", "viewer", "admin", null).token;
  const who = (h: Record<string, string>) => authenticate(new Headers(h), db, cfg);

  it("take a session cookie that does not decode as no cookie, not as an error", () => {
    // Another app on the same host name can set it: cookies ignore ports.
    expect(readCookie(new Headers({ cookie: "lifeboat-session=%E0%A4%A" }), "lifeboat-session")).toBeNull();
    expect(who({ cookie: "lifeboat-session=%E0%A4%A" })).toBeNull();
    expect(who({ cookie: `lifeboat-session=%E0%A4%A; lifeboat-session=${sid}` })).toMatchObject({ name: "ann", kind: "session" });
    expect(readCookie(new Headers({ cookie: "other=%E0; lifeboat-session=a%20b" }), "lifeboat-session")).toBe("a b");
  });

  it("try a token for the Bearer scheme only (in any case), and judge other schemes by cookie", () => {
    // nginx's auth_basic passes the browser's Basic credentials upstream by default.
    const basic = { authorization: "Basic dXNlcjpwYXNzd29yZA==" };
    expect(who({ ...basic, cookie: `lifeboat-session=${sid}` })).toMatchObject({ name: "ann", kind: "session" });
    expect(who(basic)).toBeNull();
    expect(who({ authorization: "Negotiate YIIB", cookie: `lifeboat-session=${sid}` })).toMatchObject({ kind: "session" });
    expect(who({ authorization: `bearer ${token}` })).toMatchObject({ name: "ci", kind: "token" });
    expect(who({ authorization: `BEARER ${token}`, cookie: `lifeboat-session=${sid}` })).toMatchObject({ kind: "token" });
    // A Bearer attempt that fails is refused even beside a good cookie; so is a Bearer header without a token.
    expect(() => who({ authorization: "Bearer not-a-token-of-this-dashboard-0000", cookie: `lifeboat-session=${sid}` })).toThrow(/API token is not valid/);
    expect(() => who({ authorization: "Bearer", cookie: `lifeboat-session=${sid}` })).toThrow(/API token is not valid/);
  });
});

describe("hosts", () => {
  it("answer loopback names always, IP literals when nothing is configured, configured names only otherwise", () => {
    const open = parseAuthConfig(ENV);
    expect(hostAllowed(open, "127.0.0.1:3000")).toBe(true);
    expect(hostAllowed(open, "localhost:3000")).toBe(true);
    expect(hostAllowed(open, "[::1]:3000")).toBe(true);
    expect(hostAllowed(open, "192.168.1.5:3000")).toBe(true);
    expect(hostAllowed(open, "evil.example:3000")).toBe(false);
    expect(hostAllowed(open, null)).toBe(false);
    const set = parseAuthConfig({ ...ENV, LIFEBOAT_PUBLIC_URL: "https://lifeboat.lan", LIFEBOAT_ALLOWED_HOSTS: "pi.lan, 10.0.0.2" });
    expect(set.secureCookies).toBe(true);
    expect(hostAllowed(set, "lifeboat.lan")).toBe(true);
    expect(hostAllowed(set, "LIFEBOAT.LAN:443")).toBe(true);
    expect(hostAllowed(set, "pi.lan:3000")).toBe(true);
    expect(hostAllowed(set, "10.0.0.2")).toBe(true);
    expect(hostAllowed(set, "192.168.1.5")).toBe(false);
    expect(hostAllowed(set, "127.0.0.1:3000")).toBe(true);
  });
});

describe("single sign-on behind a proxy", () => {
  const cfg = parseAuthConfig({
    ...ENV,
    LIFEBOAT_AUTH: "proxy",
    LIFEBOAT_TRUSTED_PROXIES: "10.0.0.5, 192.168.7.0/24",
    LIFEBOAT_PROXY_ROLES: "lifeboat-admins=admin, ops=operator",
  });
  const db = openDatabase(tmp("lifeboat-proxy-"));
  const headers = (peer: string, extra: Record<string, string>) => new Headers({ [PEER_HEADER]: peer, ...extra });
  (globalThis as Record<symbol, unknown>)[PEER_MARK] = true;

  it("trusts the user and groups headers from a trusted proxy only", () => {
    expect(authenticate(headers("10.0.0.5", { "remote-user": "ann", "remote-groups": "users,ops" }), db, cfg)).toMatchObject({
      name: "ann",
      role: "operator",
      kind: "proxy",
    });
    expect(authenticate(headers("::ffff:192.168.7.40", { "remote-user": "bob", "remote-groups": "ops|lifeboat-admins" }), db, cfg)).toMatchObject({
      role: "admin",
    });
    // The same headers from anywhere else are ignored: no principal.
    expect(authenticate(headers("10.0.0.6", { "remote-user": "ann", "remote-groups": "lifeboat-admins" }), db, cfg)).toBeNull();
    expect(() => authenticate(headers("10.0.0.5", { "remote-user": "eve", "remote-groups": "users" }), db, cfg)).toThrow(/none of your groups/);
  });

  it("takes the client address from X-Forwarded-For only behind a trusted proxy", () => {
    expect(clientAddress(headers("10.0.0.5", { "x-forwarded-for": "203.0.113.9, 192.168.7.2" }), cfg)).toBe("203.0.113.9");
    expect(clientAddress(headers("10.0.0.99", { "x-forwarded-for": "10.0.0.5" }), cfg)).toBe("10.0.0.99");
  });

  it("believes the peer header only in a process the dashboard's server marked", () => {
    const g = globalThis as Record<symbol, unknown>;
    g[PEER_MARK] = undefined;
    expect(peerAddress(headers("10.0.0.5", {}))).toBeNull();
    expect(authenticate(headers("10.0.0.5", { "remote-user": "ann", "remote-groups": "ops" }), db, cfg)).toBeNull();
    g[PEER_MARK] = true;
  });

  it("needs LIFEBOAT_TRUSTED_PROXIES", () => {
    expect(() => parseAuthConfig({ ...ENV, LIFEBOAT_AUTH: "proxy" })).toThrow(/LIFEBOAT_TRUSTED_PROXIES: required/);
    expect(() => parseAuthConfig({ ...ENV, LIFEBOAT_TRUSTED_PROXIES: "10.0.0.300" })).toThrow(/not an IP address/);
  });
});

describe("the first admin's generated password file", () => {
  it("goes once admin's password is changed by anyone, not only by admin on the account page", async () => {
    const dataDir = tmp("lifeboat-first-");
    const db = openDatabase(dataDir);
    ensureInitialAdmin(db, { dataDir, passwordFile: null, log: pino({ level: "silent" }) });
    const file = path.join(dataDir, INITIAL_PASSWORD_FILE);
    expect(existsSync(file)).toBe(true);
    const cfg = parseAuthConfig(ENV);
    const auth = {
      db,
      cfg,
      dataDir,
      limits: { user: new FailureLimiter(db, "user", LOGIN_LIMITS.user), address: new FailureLimiter(db, "address", LOGIN_LIMITS.address) },
    };
    // Another admin gives admin a new password (the Users page, PATCH /api/users/admin): the file's no longer signs in.
    await updateUser(auth, "Admin", { password: "a-new-password-123" });
    expect(existsSync(file)).toBe(false);
  });
});
