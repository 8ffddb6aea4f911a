import { closeSync, copyFileSync, mkdirSync, openSync, readFileSync, statSync, truncateSync, writeFileSync, writeSync } from "node:fs";
import path from "node:path";
import pino from "pino";
import { createHash } from "node:crypto";
import { spawnSync } from "node:child_process";
import Database from "better-sqlite3";
import { generateKineDb, type GeneratedDb } from "../kine/generator";
import { openKineDb } from "../kine/schema";
import { KineSimulator, prng } from "../kine/simulator";
import { loadAgentConfig } from "../config";
import { makeDeps } from "../deps";
import type { AgentDeps } from "../module";

/**
 * Damage for the recovery tests, done to real SQLite files the way disks and people do it: pages
 * overwritten or zeroed, the header or page 1 wiped, the file cut short, a WAL from another database
 * left next to it. Page facts come from SQLite's own dbstat table (not from Lifeboat's reader), so
 * the tests have an independent oracle.
 */

export interface KineFixture extends GeneratedDb {
  pageSize: number;
  freelistPages: number;
}

/**
 * A kine database big enough for interior pages (a 3-level table b-tree), overflow pages (pods and
 * configmaps with their old_value copies), and free pages still holding rows compaction deleted:
 * kine's history with compaction stuck, then one compaction, then a little more life.
 */
export function makeKineFixture(file: string, opts: { targetBytes?: number; seed?: number } = {}): KineFixture {
  const g = generateKineDb(file, { targetBytes: opts.targetBytes ?? 5_000_000, compaction: "stuck", seed: opts.seed ?? 11 });
  const db = openKineDb(file);
  try {
    const sim = new KineSimulator(db, { seed: (opts.seed ?? 11) + 1, token: g.token });
    sim.compact(g.currentRevision - 1500);
    db.transaction(() => {
      for (let i = 0; i < 60; i++) sim.tick();
    })();
    db.pragma("wal_checkpoint(TRUNCATE)");
    db.pragma("journal_mode = DELETE");
  } finally {
    db.close();
  }
  const ro = new Database(file, { readonly: true });
  try {
    const rows = ro.prepare("SELECT COUNT(*) FROM kine").pluck().get() as number;
    const currentRevision = ro.prepare("SELECT MAX(id) FROM kine").pluck().get() as number;
    return {
      ...g,
      rows,
      currentRevision,
      bytes: statSync(file).size,
      pageSize: ro.pragma("page_size", { simple: true }) as number,
      freelistPages: ro.pragma("freelist_count", { simple: true }) as number,
    };
  } finally {
    ro.close();
  }
}

export interface PageInfo {
  pageno: number;
  pagetype: "internal" | "leaf" | "overflow";
  ncell: number;
  path: string;
}

/** The pages of one b-tree (`kine`, `kine_name_index`, …) according to SQLite's dbstat. */
export function btreePages(file: string, name: string): PageInfo[] {
  const db = new Database(file, { readonly: true });
  try {
    return db.prepare("SELECT pageno, pagetype, ncell, path FROM dbstat WHERE name = ? ORDER BY pageno").all(name) as PageInfo[];
  } finally {
    db.close();
  }
}

/** The kine table's root page (from the schema). */
export function rootPage(file: string, name = "kine"): number {
  const db = new Database(file, { readonly: true });
  try {
    return db.prepare("SELECT rootpage FROM sqlite_master WHERE name = ?").pluck().get(name) as number;
  } finally {
    db.close();
  }
}

/** Overwrites page `pageno` (1-based) with zeros or with seeded random bytes. */
export function overwritePage(file: string, pageno: number, pageSize: number, mode: "zero" | "random", seed = 1): void {
  const buf = Buffer.alloc(pageSize);
  if (mode === "random") {
    const r = prng(seed);
    for (let i = 0; i < pageSize; i++) buf[i] = Math.floor(r() * 256);
  }
  writeAt(file, buf, (pageno - 1) * pageSize);
}

export function zeroBytes(file: string, offset: number, length: number): void {
  writeAt(file, Buffer.alloc(length), offset);
}

function writeAt(file: string, buf: Buffer, offset: number): void {
  const fd = openSync(file, "r+");
  try {
    writeSync(fd, buf, 0, buf.length, offset);
  } finally {
    closeSync(fd);
  }
}

/** Cuts the file to `fraction` of its size, on a page boundary. Returns the pages left. */
export function truncateToFraction(file: string, fraction: number, pageSize: number): number {
  const pages = Math.floor((statSync(file).size * fraction) / pageSize);
  truncateSync(file, pages * pageSize);
  return pages;
}

/**
 * Rows a reader of a file cut after `pagesLeft` pages can still get whole: cells on surviving table
 * leaves whose overflow pages all survive too (from dbstat's paths: "/000/001/" is a leaf,
 * "/000/001/00a+000001" the second overflow page of its cell 10). Computed on the intact original.
 */
export function rowsSurvivingTruncation(original: string, pagesLeft: number): number {
  const pages = btreePages(original, "kine");
  const cutOverflow = new Set<string>();
  for (const p of pages) if (p.pagetype === "overflow" && p.pageno > pagesLeft) cutOverflow.add(p.path.replace(/\+\d+$/, ""));
  let rows = 0;
  for (const leaf of pages) {
    if (leaf.pagetype !== "leaf" || leaf.pageno > pagesLeft) continue;
    // dbstat writes cell numbers in hex ("%.3x").
    for (let cell = 0; cell < leaf.ncell; cell++) if (!cutOverflow.has(`${leaf.path}${cell.toString(16).padStart(3, "0")}`)) rows++;
  }
  return rows;
}

/**
 * Every kine row's pages on an intact file, from SQLite's dbstat (not Lifeboat's reader): its table
 * leaf, then its overflow pages in chain order. dbstat names a leaf's cells in order ("/000/001/" then
 * "/000/001/00a+000001" for the second overflow page of its cell 10, in hex), and the leaves in tree
 * order by their paths, so the n-th cell is the n-th row by id.
 */
export function kineRowPages(file: string): Map<number, number[]> {
  const pages = btreePages(file, "kine");
  const overflow = new Map<string, { idx: number; page: number }[]>();
  for (const p of pages) {
    if (p.pagetype !== "overflow") continue;
    const [cell, idx] = p.path.split("+");
    if (!overflow.has(cell)) overflow.set(cell, []);
    overflow.get(cell)!.push({ idx: parseInt(idx, 16), page: p.pageno });
  }
  const leaves = pages.filter((p) => p.pagetype === "leaf").sort((a, b) => (a.path < b.path ? -1 : 1));
  const db = new Database(file, { readonly: true });
  const ids = db.prepare("SELECT id FROM kine ORDER BY id").pluck().all() as number[];
  db.close();
  const out = new Map<number, number[]>();
  let next = 0;
  for (const leaf of leaves)
    for (let cell = 0; cell < leaf.ncell; cell++) {
      const chain = (overflow.get(`${leaf.path}${cell.toString(16).padStart(3, "0")}`) ?? []).sort((a, b) => a.idx - b.idx).map((o) => o.page);
      out.set(ids[next++], [leaf.pageno, ...chain]);
    }
  if (next !== ids.length) throw new Error(`dbstat lists ${next} cells for ${ids.length} rows`);
  return out;
}

/** Sets `pages` consecutive pages from `first` to one byte (an SD card's erased block reads as 0xFF or 0x00). */
export function eraseBlock(file: string, first: number, pages: number, pageSize: number, byte: 0x00 | 0xff): void {
  writeAt(file, Buffer.alloc(pages * pageSize, byte), (first - 1) * pageSize);
}

/**
 * Puts a WAL from another kine database next to `dbFile` (as if an old `state.db-wal` was left
 * behind by a restore by hand). The other database is written in WAL mode and its WAL copied while
 * still holding un-checkpointed commits.
 */
export function plantForeignWal(dbFile: string, scratchFile: string, seed = 99): number {
  generateKineDb(scratchFile, { targetBytes: 1_500_000, compaction: "stuck", seed, keepWal: true });
  const db = openKineDb(scratchFile);
  try {
    db.pragma("wal_autocheckpoint = 0");
    const sim = new KineSimulator(db, { seed: seed + 1 });
    db.transaction(() => {
      for (let i = 0; i < 300; i++) sim.tick();
    })();
    copyFileSync(`${scratchFile}-wal`, `${dbFile}-wal`);
  } finally {
    db.close();
  }
  return statSync(`${dbFile}-wal`).size;
}

/**
 * Leaves a hot rollback journal next to `dbFile` the way a crash does: the database switched to
 * rollback mode (journal_mode DELETE), a transaction that rewrites every row spills its pages into
 * the file (a 2-page cache), and the writer is killed before it commits. The file alone is then
 * torn mid-transaction; SQLite rolls the journal back the next time a writer opens it. Returns the
 * journal's size.
 */
export function plantHotJournal(dbFile: string): number {
  const script = [
    `const db = new (require("better-sqlite3"))(${JSON.stringify(dbFile)});`,
    `db.pragma("journal_mode = DELETE");`,
    `db.pragma("cache_size = 2");`,
    `db.exec("BEGIN");`,
    `db.prepare("UPDATE kine SET name = 'torn' || name, value = zeroblob(10)").run();`,
    `process.kill(process.pid, "SIGKILL");`,
  ].join("\n");
  const r = spawnSync(process.execPath, ["-e", script], { cwd: path.resolve(import.meta.dirname, "../.."), encoding: "utf8" });
  if (r.signal !== "SIGKILL") throw new Error(`the writer was not killed mid-transaction: ${r.stderr}`);
  return statSync(`${dbFile}-journal`).size;
}

/** sha256 of a file's bytes (to prove the live copy was never modified). */
export function fileHash(file: string): string {
  return createHash("sha256").update(readFileSync(file)).digest("hex");
}

/** Every kine row as "id|sha256(all columns)", to compare row sets across databases exactly. */
export function kineRowDigests(file: string): Map<number, string> {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const out = new Map<number, string>();
    const rows = db
      .prepare("SELECT id, name, created, deleted, create_revision, prev_revision, lease, quote(value), quote(old_value) FROM kine NOT INDEXED ORDER BY id")
      .raw()
      .iterate() as IterableIterator<unknown[]>;
    for (const r of rows) out.set(r[0] as number, createHash("sha256").update(JSON.stringify(r)).digest("hex"));
    return out;
  } finally {
    db.close();
  }
}

/** A server dir to recover: its live database a copy of a fixture, and an agent configured for it. */
export interface RecoveryCase {
  serverDir: string;
  dbPath: string;
  deps: AgentDeps;
}

/**
 * A server dir below `root` whose db/state.db is a copy of `template` (with its `token`), and the
 * agent's dependencies for it (k3s inactive, state dir beside it), ready for a recovery job.
 */
export function recoveryCase(root: string, template: string, token: string): RecoveryCase {
  const serverDir = path.join(root, "server");
  mkdirSync(path.join(serverDir, "db"), { recursive: true, mode: 0o700 });
  const dbPath = path.join(serverDir, "db", "state.db");
  copyFileSync(template, dbPath);
  writeFileSync(path.join(serverDir, "token"), token + "\n", { mode: 0o600 });
  const config = loadAgentConfig({
    LIFEBOAT_K3S_SERVER_DIR: serverDir,
    LIFEBOAT_STATE_DIR: path.join(root, "state"),
    LIFEBOAT_K3S_STATUS_CMD: "echo inactive; exit 3",
    LIFEBOAT_INTEGRITY_SCHEDULE: "off",
    LIFEBOAT_OWNER: `${process.getuid!()}:${process.getgid!()}`,
    LOG_LEVEL: "silent",
  });
  return { serverDir, dbPath, deps: makeDeps(config, { logDestination: pino.destination("/dev/null") }) };
}
