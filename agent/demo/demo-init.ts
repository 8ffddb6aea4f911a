// The demo a newcomer sees on `npm start` without S3: a fake k3s server directory and a bucket with
// 90 nights of REAL backups in the seed CronJob's naming, telling the incident's story (a steady
// size, one missed night, then 53.89 → 80.51 → 228.3 "MB", scaled down 1:50 to keep it small).
//
// Every archive is what the seed job would have uploaded for a live kine database on that night:
//   k3s_db_<ts>.tar.zst.gpg   tar of the db directory (`tar -C db .`: state.db, -wal, -shm), zstd, OpenPGP
//   state_<ts>.db.gpg         an online backup of state.db, OpenPGP with ZIP compression (what `gpg -c` does)
// encrypted with the demo passphrase, and every database carries bootstrap data encrypted with the
// demo server's token — so restore drills on the demo agent open them. Sizes are reached by choosing
// each night's database size (calibrated against the measured compression ratio), not by padding.
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import * as openpgp from "openpgp";
import * as tar from "tar";
import type Database from "better-sqlite3";
import { openKineDb } from "../kine/schema";
import { KineSimulator } from "../kine/simulator";
import { generateKineDb } from "../kine/generator";
import { compress as zstdCompressBuffer } from "zstd-napi";
import { writeFileDurable } from "../../lib/storage/durable-file";
import { seedObjectNames } from "../../lib/contracts/backup-names";
import type { BackupStore } from "../../lib/storage";
import { median } from "../../lib/backups/anomalies";

const DAY = 86_400_000;
export const DEMO_NIGHTS = 91;
/** The night without a backup, counted back from the last night. */
export const MISSED_NIGHTS_AGO = 38;
/** The incident's last three backups, in MB (compressed file archives). */
export const INCIDENT_MB = [53.89, 80.51, 228.3] as const;
const STEADY_END_MB = 50.5;

export interface DemoPaths {
  root: string;
  serverDir: string;
  dbFile: string;
  tokenFile: string;
  passphraseFile: string;
  /** Written last: its presence means the demo is complete. */
  marker: string;
  /** Written first: the nights being generated, so an interrupted run resumes with the same names. */
  plan: string;
  work: string;
}

export function demoPaths(dataDir: string): DemoPaths {
  const root = path.join(path.resolve(dataDir), "demo");
  const serverDir = path.join(root, "k3s", "server");
  return {
    root,
    serverDir,
    dbFile: path.join(serverDir, "db", "state.db"),
    tokenFile: path.join(serverDir, "token"),
    passphraseFile: path.join(root, "passphrase"),
    marker: path.join(root, "demo.json"),
    plan: path.join(root, "plan.json"),
    work: path.join(root, "work"),
  };
}

export interface DemoNight {
  time: Date;
  /** The night's size in the incident's megabytes (steady 48 → 50.5, then 53.89, 80.51, 228.3). */
  mb: number;
  /** "stuck": kine's compaction stopped (k3s#10619), the database grows. */
  compaction: "healthy" | "stuck";
  backedUp: boolean;
}

/**
 * The demo's nights, oldest first, ending at `lastNight` (a UTC midnight): a slow drift from 48 to
 * 50.5 "MB", one missed night, then the incident's three growing backups with compaction stuck.
 */
export function demoPlan(lastNight: Date): DemoNight[] {
  const nights: DemoNight[] = [];
  const steady = DEMO_NIGHTS - INCIDENT_MB.length;
  for (let i = 0; i < DEMO_NIGHTS; i++) {
    // The CronJob starts a few seconds after midnight; vary it like a real scheduler does.
    const time = new Date(lastNight.getTime() - (DEMO_NIGHTS - 1 - i) * DAY + (3 + ((i * 7) % 9)) * 1000);
    const mb = i < steady ? 48 + ((STEADY_END_MB - 48) * i) / (steady - 1) : INCIDENT_MB[i - steady];
    nights.push({ time, mb, compaction: i < steady ? "healthy" : "stuck", backedUp: i !== DEMO_NIGHTS - 1 - MISSED_NIGHTS_AGO });
  }
  return nights;
}

/** The most recent UTC midnight at or before `now`. */
export function lastUtcMidnight(now: Date): Date {
  return new Date(Math.floor(now.getTime() / DAY) * DAY);
}

export interface DemoInitOptions {
  dataDir: string;
  store: BackupStore;
  now?: Date;
  onProgress?: (message: string) => void;
}

export interface DemoInitResult {
  skipped: boolean;
  serverDir: string;
  passphraseFile: string;
  sets: number;
  objects: number;
  bytes: number;
  lastNight: string;
  ms: number;
  /** Bytes per incident megabyte (the incident's 50 MB is `50 × scale` bytes here). */
  scale: number;
  /** Achieved file-archive sizes of the last nights, for the record. */
  lastArchiveBytes: number[];
}

/** The demo was asked to write where it must not (a bucket or directory it did not create). */
export class DemoRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DemoRefusedError";
  }
}

interface Plan {
  version: 1;
  lastNight: string;
  token: string;
}

const secretFile = (file: string, text: string) => {
  writeFileSync(file, text, { mode: 0o600 });
  chmodSync(file, 0o600);
};

/**
 * Creates the demo server directory, passphrase and backup history (see the file header). Runs
 * once: a second call returns `skipped: true`. An interrupted run is resumed with the same nights.
 * Rejects with DemoRefusedError when the store holds objects the demo did not write, or the demo
 * directory holds files from something else; with StorageError when the store fails.
 */
export async function initDemo(opts: DemoInitOptions): Promise<DemoInitResult> {
  const started = Date.now();
  const p = demoPaths(opts.dataDir);
  const progress = opts.onProgress ?? (() => {});
  if (existsSync(p.marker)) {
    const done = JSON.parse(readFileSync(p.marker, "utf8")) as DemoInitResult;
    return { ...done, skipped: true, ms: Date.now() - started };
  }

  let plan: Plan;
  if (existsSync(p.plan)) {
    plan = JSON.parse(readFileSync(p.plan, "utf8")) as Plan;
    progress("demo: resuming an interrupted demo setup");
    rmSync(path.join(p.root, "k3s"), { recursive: true, force: true });
    rmSync(p.work, { recursive: true, force: true });
  } else {
    if (existsSync(p.root))
      throw new DemoRefusedError(`${p.root} exists but was not made by demo-init (no plan.json): move it away or choose another data directory.`);
    plan = {
      version: 1,
      lastNight: lastUtcMidnight(opts.now ?? new Date()).toISOString(),
      // A k3s-style server token: K10<ca hash>::server:<password>.
      token: `K10${randomBytes(32).toString("hex")}::server:${randomBytes(16).toString("hex")}`,
    };
  }
  const nights = demoPlan(new Date(plan.lastNight));
  const ours = new Set(nights.flatMap((n) => Object.values(seedObjectNames(n.time))));

  const first = await opts.store.list({ pageSize: 1000 });
  const foreign = first.objects.filter((o) => !ours.has(o.key));
  if (foreign.length) {
    throw new DemoRefusedError(
      `${opts.store.description} already holds objects the demo did not write (e.g. ${foreign[0].key}): demo-init only fills an empty bucket. Point it at an empty bucket, or use the real one without the demo.`,
    );
  }
  if (!existsSync(p.plan)) {
    mkdirSync(p.root, { recursive: true, mode: 0o700 });
    secretFile(p.plan, JSON.stringify(plan, null, 2));
  }

  if (!existsSync(p.passphraseFile)) secretFile(p.passphraseFile, randomBytes(24).toString("base64url") + "\n");
  const passphrase = readFileSync(p.passphraseFile, "utf8").split("\n")[0];
  writeServerDir(p, plan.token);

  mkdirSync(p.work, { recursive: true, mode: 0o700 });
  const workDb = path.join(p.work, "db", "state.db");
  mkdirSync(path.dirname(workDb), { recursive: true, mode: 0o700 });
  const db = openKineDb(workDb);
  const sim = new KineSimulator(db, { token: plan.token, seed: 20241218, nodes: 3 });
  const uploads = new UploadQueue(opts.store, 3);
  let scale = 0;
  const achieved: number[] = [];
  try {
    db.transaction(() => sim.seed())();
    const expireEvents = eventExpiry(db, sim);
    // Run the cluster for a while first: a fresh database compresses better than one whose pages
    // have been rewritten, so sizes would otherwise creep up for weeks.
    for (let round = 0; round < 150; round++) {
      growTo(db, sim, 0, expireEvents);
      sim.compact();
    }
    db.pragma("wal_checkpoint(TRUNCATE)");
    // A healthy kine database cannot be made smaller than its newest 1000 revisions plus live keys:
    // scale the incident so its steady ~48 MB sits just above that floor.
    const floor = tarZstd(path.dirname(workDb), new Date()).length;
    scale = Math.ceil((floor * 1.03) / 48 / 100) * 100;
    let ratio = floor / statSync(workDb).size; // compressed archive bytes per database byte, re-measured nightly
    const dbDir = path.dirname(workDb);
    for (const [i, night] of nights.entries()) {
      // The incident's episode is shaped on what the steady nights really came to.
      const target = night.compaction === "healthy" ? night.mb * scale : (night.mb / STEADY_END_MB) * median(achieved.slice(-7));
      growTo(db, sim, (target / ratio) * 0.98, expireEvents);
      if (night.compaction === "healthy") sim.compact();
      db.pragma("wal_checkpoint(TRUNCATE)");
      // Calibrate: the compression ratio drifts, so measure and write a little more when short. The
      // last measurement is the night's archive itself when nothing was written after it.
      let measured: Buffer | null = null;
      for (let k = 0; k < 4; k++) {
        measured = tarZstd(dbDir, night.time);
        ratio = measured.length / statSync(workDb).size;
        if (measured.length >= target * 0.99) break;
        growTo(db, sim, target / ratio, expireEvents);
        db.pragma("wal_checkpoint(TRUNCATE)");
        measured = null;
      }
      if (!night.backedUp) continue;
      const names = seedObjectNames(night.time);
      const archive = await fileArchive(measured ?? tarZstd(dbDir, night.time), passphrase);
      await uploads.add(names.fileArchive, archive);
      // Its encryption (gpg's compression: zlib on libuv's threads) goes on while the next nights are written.
      await uploads.add(names.logical, logicalBackup(await copyOf(db, path.join(p.work, "backup.db")), passphrase));
      achieved.push(archive.length);
      if ((i + 1) % 15 === 0) progress(`demo: ${i + 1}/${nights.length} nights, ${uploads.count} objects, ${(uploads.bytes / 1e6).toFixed(1)} MB`);
    }
    await uploads.drain();
    progress(`demo: ${nights.length}/${nights.length} nights, ${uploads.count} objects, ${(uploads.bytes / 1e6).toFixed(1)} MB`);
  } finally {
    db.close();
    await uploads.drain().catch(() => {});
  }

  // The live database: the last night's, a day of (still uncompacted) writes later, in WAL mode.
  renameSync(workDb, p.dbFile);
  rmSync(p.work, { recursive: true, force: true });
  generateKineDb(p.dbFile, { targetBytes: statSync(p.dbFile).size + 400_000, compaction: "stuck", keepWal: true, token: plan.token, seed: 7 });
  chmodSync(p.dbFile, 0o600);

  const result: DemoInitResult = {
    skipped: false,
    serverDir: p.serverDir,
    passphraseFile: p.passphraseFile,
    sets: uploads.count / 2,
    objects: uploads.count,
    bytes: uploads.bytes,
    scale,
    lastNight: plan.lastNight,
    ms: Date.now() - started,
    lastArchiveBytes: achieved.slice(-5),
  };
  // The marker says the demo is complete (npm start skips demo-init when it exists): never a torn one.
  writeFileDurable(p.marker, JSON.stringify(result, null, 2), { mode: 0o644 });
  return result;
}

/** Live events kept: what a small cluster holds within the events' one-hour TTL. */
const LIVE_EVENTS = 150;

/**
 * Deletes the oldest live events beyond LIVE_EVENTS, as kine does when their lease expires. The
 * simulator creates events faster than it deletes them, so without this a healthy, compacted
 * database would still grow night after night and the demo could not show a steady size.
 */
function eventExpiry(db: Database.Database, sim: KineSimulator): () => void {
  const live = db
    .prepare("SELECT name FROM kine WHERE id IN (SELECT MAX(id) FROM kine WHERE name LIKE '/registry/events/%' GROUP BY name) AND deleted = 0 ORDER BY id")
    .pluck();
  return db.transaction(() => {
    const names = live.all() as string[];
    for (const name of names.slice(0, Math.max(0, names.length - LIVE_EVENTS))) sim.delete(name);
  });
}

/**
 * Writes kine revisions (expiring events as it goes) until the database file reaches `bytes` — at
 * least a few, so every night differs.
 */
function growTo(db: Database.Database, sim: KineSimulator, bytes: number, expireEvents: () => void): void {
  // Prepared once: db.pragma() prepares its statement at every call, and this runs at every step.
  const pageSize = db.pragma("page_size", { simple: true }) as number;
  const pageCount = db.prepare("PRAGMA page_count").pluck();
  const size = () => (pageCount.get() as number) * pageSize;
  const step = db.transaction(() => {
    sim.tick();
    sim.tick();
  });
  for (let i = 0; i < 10 || size() < bytes; i++) {
    step();
    if (i % 50 === 49) expireEvents();
  }
  expireEvents();
}

/**
 * `gpg -c --cipher-algo AES256` of a buffer: SKESK v4 + SEIPD v1 (both GnuPG 2.2 and 2.4 open it).
 * The S2K iteration count is lowered from openpgp's default: hashing the passphrase cost ~35 ms per
 * object (6 s of the demo's first start), and the demo passphrase sits next to the archives anyway.
 */
async function gpgSymmetric(data: Uint8Array, passphrase: string, compression: openpgp.enums.compression): Promise<Buffer> {
  const message = await openpgp.createMessage({ binary: data });
  const out = await openpgp.encrypt({
    message,
    passwords: [passphrase],
    format: "binary",
    config: {
      aeadProtect: false,
      preferredSymmetricAlgorithm: openpgp.enums.symmetric.aes256,
      preferredCompressionAlgorithm: compression,
      s2kIterationCountByte: 96,
    },
  });
  return Buffer.from(out as Uint8Array);
}

/** Uploads in the background (the store works in another process) with at most `limit` in flight. */
class UploadQueue {
  count = 0;
  bytes = 0;
  private readonly running = new Set<Promise<void>>();
  private failed: unknown = null;
  constructor(
    private readonly store: BackupStore,
    private readonly limit: number,
  ) {}

  /**
   * Resolves once the upload is queued; rejects with the first failed upload. `body` may still be
   * in the making: it counts against the limit from now on, and a failure to make it fails the queue.
   */
  async add(key: string, body: Buffer | Promise<Buffer>): Promise<void> {
    const made = Promise.resolve(body);
    made.catch(() => {}); // handled below, once a place is free; not an unhandled rejection meanwhile
    if (this.failed) throw this.failed;
    while (this.running.size >= this.limit) await Promise.race(this.running);
    if (this.failed) throw this.failed;
    const p: Promise<void> = made
      .then(async (bytes) => {
        await this.store.put(key, Readable.from([bytes]), { contentType: "application/octet-stream" });
        this.count++;
        this.bytes += bytes.length;
      })
      .catch((err) => {
        this.failed ??= err;
      })
      .finally(() => this.running.delete(p));
    this.running.add(p);
  }

  async drain(): Promise<void> {
    await Promise.all(this.running);
    if (this.failed) throw this.failed;
  }
}

/**
 * `tar -cf - -C db . | zstd` (level 3, the CLI's default), in memory and synchronously: the demo's
 * databases are a few MB, and the streamed version spent a quarter of its time waiting on the event
 * loop between reads.
 */
function tarZstd(dbDir: string, mtime: Date): Buffer {
  const chunks: Buffer[] = [];
  const pack = tar.c({ sync: true, cwd: dbDir, portable: true, mtime }, ["."]) as unknown as NodeJS.ReadableStream;
  pack.on("data", (c: Buffer) => chunks.push(c));
  return zstdCompressBuffer(Buffer.concat(chunks), { compressionLevel: 3 });
}

/** `tar -cf - -C db . | zstd | gpg -c`: the seed's file-based archive of the db directory. */
async function fileArchive(tarZst: Buffer, passphrase: string): Promise<Buffer> {
  // The payload is zstd already: no OpenPGP compression (gpg would not gain anything either).
  return gpgSymmetric(tarZst, passphrase, openpgp.enums.compression.uncompressed);
}

/** `sqlite3 state.db ".backup"`: the database's bytes as the backup API copies them. */
async function copyOf(db: Database.Database, tmp: string): Promise<Buffer> {
  rmSync(tmp, { force: true });
  await db.backup(tmp);
  const bytes = readFileSync(tmp);
  rmSync(tmp, { force: true });
  return bytes;
}

/**
 * `gpg -c` of the `.backup` copy, which compresses. ZLIB rather than gpg's default ZIP: Node 20
 * compresses ZLIB natively and ZIP only in JavaScript (4× slower); gpg opens both.
 */
function logicalBackup(copy: Buffer, passphrase: string): Promise<Buffer> {
  return gpgSymmetric(copy, passphrase, openpgp.enums.compression.zlib);
}

/** token, node-token (a link, as k3s makes it), cred/ and tls/ with small stand-in files; 0600/0700. */
function writeServerDir(p: DemoPaths, token: string): void {
  const dirs = [p.serverDir, path.join(p.serverDir, "db"), path.join(p.serverDir, "cred"), path.join(p.serverDir, "tls")];
  for (const d of dirs) {
    mkdirSync(d, { recursive: true, mode: 0o700 });
    chmodSync(d, 0o700);
  }
  secretFile(p.tokenFile, token + "\n");
  symlinkSync("token", path.join(p.serverDir, "node-token"));
  const pem = (label: string) => `-----BEGIN ${label}-----\n${randomBytes(48).toString("base64")}\n-----END ${label}-----\n`;
  const files: Record<string, string> = {
    "cred/passwd": `${randomBytes(16).toString("hex")},node,node,k3s:agent\n${randomBytes(16).toString("hex")},server,server,k3s:server\n`,
    "cred/ipsec.psk": randomBytes(32).toString("hex") + "\n",
    "tls/server-ca.crt": pem("CERTIFICATE"),
    "tls/server-ca.key": pem("EC PRIVATE KEY"),
    "tls/client-ca.crt": pem("CERTIFICATE"),
    "tls/client-ca.key": pem("EC PRIVATE KEY"),
    "tls/serving-kube-apiserver.crt": pem("CERTIFICATE"),
    "tls/serving-kube-apiserver.key": pem("EC PRIVATE KEY"),
  };
  for (const [rel, text] of Object.entries(files)) secretFile(path.join(p.serverDir, rel), text);
}
