import { it, expect, beforeAll, afterAll } from "vitest";
import Database from "better-sqlite3";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { KINE_SCHEMA_SQL } from "../kine/schema";
import { salvageKineDatabase } from "./salvage";

/**
 * The salvage builds a new file that nothing else opens and that a crash leaves to build again, so it
 * writes it without a rollback journal. better-sqlite3's defensive mode silently keeps
 * journal_mode = DELETE when asked for OFF; this watches for the journal file while the rows go in.
 */

let work: string;
beforeAll(() => {
  work = mkdtempSync(path.join(tmpdir(), "lifeboat-salvage-journal-"));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

it("writes the salvaged database without a rollback journal, and gives back every row", async () => {
  const src = path.join(work, "src.db");
  const db = new Database(src);
  db.exec(KINE_SCHEMA_SQL);
  const insert = db.prepare(
    "INSERT INTO kine (id, name, created, deleted, create_revision, prev_revision, lease, value, old_value) VALUES (?, ?, 0, 0, ?, ?, 0, ?, NULL)",
  );
  db.transaction(() => {
    for (let id = 1; id <= 12_000; id++) insert.run(id, `/registry/journal/${id % 300}/${id}`, id, id - 1, Buffer.alloc(200, id));
  })();
  db.close();
  const out = path.join(work, "out.db");
  const seen: boolean[] = [];
  const r = await salvageKineDatabase(src, out, {
    onProgress: (phase, done, total) => {
      if (phase === "write" && done < total) seen.push(existsSync(`${out}-journal`));
    },
  });
  expect(r.rowsKept).toBe(12_000);
  expect(seen.length).toBeGreaterThan(0); // the check ran while rows were going in
  expect(seen.every((j) => !j)).toBe(true);
  const check = new Database(out, { readonly: true });
  expect(check.prepare("SELECT COUNT(*) FROM kine").pluck().get()).toBe(12_000);
  expect(check.prepare("PRAGMA integrity_check").pluck().get()).toBe("ok");
  check.close();
});
