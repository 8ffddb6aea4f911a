import { describe, it, expect } from "vitest";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { execFileSync } from "node:child_process";
import Database from "better-sqlite3";
import { generateKineDb } from "./generator";
import { readKineStats, keyPrefix } from "./stats";
import { bootstrapKey, decryptBootstrap, encryptBootstrap, normalizeToken } from "./bootstrap";

const tmp = () => mkdtempSync(path.join(tmpdir(), "lifeboat-kine-"));

describe("keyPrefix", () => {
  it("keeps the first two path segments", () => {
    expect(keyPrefix("/registry/leases/kube-system/k3s")).toBe("/registry/leases");
    expect(keyPrefix("/registry/pods")).toBe("/registry/pods");
    expect(keyPrefix("/bootstrap/abc123def456")).toBe("/bootstrap/abc123def456");
    expect(keyPrefix("compact_rev_key")).toBe("compact_rev_key");
    expect(keyPrefix("gap-1234")).toBe("gap-*");
  });
});

describe("bootstrap data (k3s encrypt.go format)", () => {
  it("normalizes K10 tokens to their password part", () => {
    expect(normalizeToken("K10abc::server:s3cret")).toBe("s3cret");
    expect(normalizeToken("plain-token")).toBe("plain-token");
  });
  it("round-trips with the right token and refuses another", () => {
    const token = "K10deadbeef::server:password123";
    const sealed = encryptBootstrap(token, Buffer.from('{"ServerCA":{}}'));
    expect(sealed.toString()).toMatch(/^[0-9a-f]{16}:[A-Za-z0-9+/=]+$/);
    // The same password part under a different CA hash still opens it: k3s keys by the password only.
    expect(decryptBootstrap("K10other::server:password123", sealed).toString()).toBe('{"ServerCA":{}}');
    expect(() => decryptBootstrap("K10deadbeef::server:wrong", sealed)).toThrow();
    expect(bootstrapKey(token)).toMatch(/^\/bootstrap\/[0-9a-f]{12}$/);
    expect(bootstrapKey(token)).toBe(bootstrapKey("password123"));
  });
});

describe("generateKineDb + readKineStats", () => {
  it("writes a kine database that sqlite3 finds intact, with stats that add up", () => {
    const file = path.join(tmp(), "state.db");
    const gen = generateKineDb(file, { targetBytes: 2_000_000, compaction: "healthy", seed: 1 });
    expect(execFileSync("sqlite3", [file, "PRAGMA integrity_check"]).toString().trim()).toBe("ok");
    const db = new Database(file, { readonly: true });
    const stats = readKineStats(db, file);
    expect(stats.rowCount).toBe(gen.rows);
    expect(stats.currentRevision).toBe(gen.currentRevision);
    expect(stats.compactRevision).toBeGreaterThan(0);
    // Healthy compaction keeps the lag near 1000 plus one interval's writes.
    expect(stats.compactionLag).toBeLessThan(2000);
    expect(stats.topPrefixesByRows[0].prefix).toMatch(/^\/registry\//);
    expect(stats.fileSize).toBe(gen.bytes);
    const bootstrapRow = db.prepare("SELECT value FROM kine WHERE name = ?").get(bootstrapKey(gen.token)) as { value: Buffer };
    expect(JSON.parse(decryptBootstrap(gen.token, bootstrapRow.value).toString())).toHaveProperty("ServerCA");
    db.close();
  });

  it("shows a climbing compaction lag when compaction is stuck", () => {
    const file = path.join(tmp(), "state.db");
    generateKineDb(file, { targetBytes: 2_000_000, compaction: "stuck", seed: 2 });
    const db = new Database(file, { readonly: true });
    const stats = readKineStats(db, file);
    expect(stats.compactRevision).toBe(0);
    expect(stats.uncompactedRows / stats.rowCount).toBeGreaterThan(0.7);
    expect(stats.topPrefixesByRows[0].prefix).toBe("/registry/leases");
    db.close();
  });
});
