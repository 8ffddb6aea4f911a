import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { bootstrapKey, encryptBootstrap } from "../kine/bootstrap";
import { KINE_INSERT_SQL, openKineDb } from "../kine/schema";
import { verifyStaged } from "./verify";

/**
 * kine databases older k3s left, which today's k3s starts on: kine before January 2020 wrote
 * compact_rev_key only at its first compaction (none before it) and could write it twice (k3s-io/kine
 * 118e08f: "On start dedup broken compact_rev_key"); kine now adds or deduplicates it when it starts.
 */

const TOKEN = "verify-kine-shape-token";
let work: string;
beforeAll(() => {
  work = mkdtempSync(path.join(tmpdir(), "lifeboat-verify-shape-"));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

function staged(name: string, compactRows: number) {
  const dbPath = path.join(work, `${name}.db`);
  const db = openKineDb(dbPath);
  const ins = db.prepare(KINE_INSERT_SQL);
  ins.run(bootstrapKey(TOKEN), 1, 0, 0, 0, 0, encryptBootstrap(TOKEN, Buffer.from('{"ServerCA":{}}')), 0);
  ins.run("/registry/configmaps/default/a", 1, 0, 0, 0, 0, Buffer.from("v"), 0);
  // Old kine's SetCompactRevision: an insert with prev_revision = the revision, created 0.
  for (let i = 0; i < compactRows; i++) ins.run("compact_rev_key", 0, 0, 0, 2 + i, 0, Buffer.alloc(0), 0);
  db.pragma("journal_mode = DELETE");
  db.close();
  const tokenPath = path.join(work, `${name}.token`);
  writeFileSync(tokenPath, TOKEN);
  return { dbPath, tokenPath, credDir: null, tlsDir: null, walReplayed: false, bytesRead: 0 };
}

describe("verify on kine databases of older k3s", () => {
  for (const rows of [0, 2])
    it(`takes a database with ${rows} compact_rev_key rows for kine's`, async () => {
      const s = staged(`compact-${rows}`, rows);
      const r = await verifyStaged(s, { hostTokenPath: s.tokenPath, useArchiveToken: true });
      expect(r.failure).toBeNull();
      expect(r.verification.looksLikeKine).toBe(true);
      expect(r.ok).toBe(true);
    });
});
