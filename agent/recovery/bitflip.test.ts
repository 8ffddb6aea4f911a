import { it, expect, afterAll } from "vitest";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import type { RecoveryReport } from "../../lib/contracts/agent-recovery";
import { kineRowPages, makeKineFixture, recoveryCase } from "../testing/corrupt";
import { startRecoveryJob } from "./ladder";

/**
 * One flipped bit in a row's value, where the intact byte was 0x00. integrity_check passes (the bytes
 * are data to SQLite); only kine's own copy (the next revision's old_value) shows the damage. The kine
 * check must not take the intact copy's single 0x00 byte for an erased page and "repair" it with the
 * flipped byte: then both copies in the result were wrong, and the report said the row was put back.
 */

const work = mkdtempSync(path.join(tmpdir(), "lifeboat-bitflip-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

it("a bit flipped to or from 0x00 in a value is not taken for an erased page: no copy in the result holds the flipped byte", async () => {
  const template = path.join(work, "template.db");
  const fx = makeKineFixture(template, { targetBytes: 3_000_000, seed: 8 });
  const c = recoveryCase(path.join(work, "case"), template, fx.token);
  // A pair P → R (R's old_value is P's value) whose P fits on one page and has a 0x00 byte inside.
  const db = new Database(template, { readonly: true });
  const pairs = db
    .prepare(
      `SELECT p.id AS pid, r.id AS rid, p.value AS v FROM kine p JOIN kine r ON r.prev_revision = p.id
       WHERE r.name != 'compact_rev_key' AND length(p.value) BETWEEN 64 AND 1500 AND instr(p.value, x'00') > 0 ORDER BY p.id`,
    )
    .all() as { pid: number; rid: number; v: Buffer }[];
  db.close();
  const pages = kineRowPages(template);
  const file = readFileSync(c.dbPath);
  let target: { pid: number; rid: number; at: number } | null = null;
  for (const p of pairs) {
    const on = pages.get(p.pid)!;
    const zero = p.v.indexOf(0, 16);
    if (on.length !== 1 || zero < 16 || zero > p.v.length - 16) continue;
    const start = (on[0] - 1) * fx.pageSize;
    const at = file.subarray(start, start + fx.pageSize).indexOf(p.v);
    if (at < 0) continue;
    target = { pid: p.pid, rid: p.rid, at: start + at + zero };
    break;
  }
  expect(target, "a row to flip a bit in").not.toBeNull();
  file[target!.at] ^= 0x04;
  writeFileSync(c.dbPath, file);

  const job = await startRecoveryJob(c.deps, { compareWith: "none" }).done;
  const report = job.result as RecoveryReport;
  expect(report.best).not.toBeNull();
  const out = new Database(report.best!.path, { readonly: true });
  const orig = new Database(template, { readonly: true });
  try {
    const cell = (d: Database.Database, col: "value" | "old_value", id: number) =>
      d.prepare(`SELECT ${col} FROM kine WHERE id = ?`).pluck().get(id) as Buffer | undefined;
    const truth = cell(orig, "value", target!.pid)!;
    const pValue = cell(out, "value", target!.pid);
    const rOld = cell(out, "old_value", target!.rid);
    // Kept rows hold kine's bytes; a row the check cannot vouch for is dropped, never "repaired" wrong.
    if (pValue) expect(pValue.equals(truth)).toBe(true);
    if (rOld) expect(rOld.equals(truth)).toBe(true);
    const soundness = report.rungs.find((r) => r.name === report.best!.rung)!.soundness;
    expect(soundness?.repairedRows ?? []).not.toContainEqual(expect.objectContaining({ revision: target!.rid }));
  } finally {
    out.close();
    orig.close();
  }
}, 120_000);
