import { z } from "zod";

/**
 * Object names of a backup set, shared by the agent (which writes Lifeboat sets) and the
 * dashboard's catalog (which reads both Lifeboat sets and the seed CronJob's sets).
 *
 * All names carry one timestamp, `YYYY-MM-DD_HH-MM-SS` in UTC, like the seed job's `date` output.
 *
 * Seed CronJob (the incident write-up):
 *   k3s_db_<ts>.tar.zst.gpg           tar of the db/ directory, zstd, gpg -c   → kind "file-archive"
 *   state_<ts>.db.gpg                 sqlite3 .backup of state.db, gpg -c      → kind "logical"
 * Lifeboat agent, one-copy layout (written since issue 15: the database is stored ONCE per set):
 *   lifeboat_<ts>_state.db.zst.gpg    verified snapshot of state.db, zstd, OpenPGP     → "lifeboat-logical"
 *   lifeboat_<ts>_secrets.tar.zst.gpg tar of token + cred/ + tls/, zstd, OpenPGP       → "lifeboat-secrets"
 *   lifeboat_<ts>_manifest.json       statistics and sha256s, not encrypted, no secrets → "manifest"
 * Lifeboat agent, two-copy layout (written before issue 15; still listed, restored, drilled, kept):
 *   lifeboat_<ts>_state.db.zst.gpg    as above                                          → "lifeboat-logical"
 *   lifeboat_<ts>_server.tar.zst.gpg  tar of db/ + token + cred/ + tls/, zstd, OpenPGP → "lifeboat-files"
 *   lifeboat_<ts>_token.tar.zst.gpg   tar of token, zstd, OpenPGP                      → "lifeboat-token"
 *   lifeboat_<ts>_manifest.json       as above                                          → "manifest"
 * Both layouts share the set id `lifeboat-<ts>` and the kind of the database archive, so the
 * database's size series (lib/backups/anomalies.ts) runs on across the change; the secrets archive
 * is a new kind whose series starts fresh instead of being compared with the server archive.
 * A set's layout is told from its names alone (missingKinds): a secrets archive means one-copy.
 *
 * Lifeboat archive layouts (written by agent/backup/archive-pipeline.ts; restores read exactly this):
 *   state.db.zst.gpg   the snapshot file itself (a VACUUM INTO copy that passed PRAGMA integrity_check)
 *   secrets.tar.zst.gpg tar with entries relative to the k3s server dir: `token`, `cred/**`, `tls/**`
 *                      (whichever exist; never the database); same header rules as server.tar.
 *                      A restore stages state.db from the state.db archive and the rest from this,
 *                      so it puts back exactly what a server-archive restore puts back.
 *   server.tar.zst.gpg tar with entries relative to the k3s server dir: `db/`, `db/state.db` (that same
 *                      snapshot — never the live file, its -wal or -shm), `token`, `cred/**`, `tls/**`
 *                      (whichever exist); regular files and directories only (symlinks such as
 *                      node-token, devices, sockets are skipped); modes preserved; owner 0:0 in every
 *                      header; long names in PAX headers. Its zstd stream is several frames in a row.
 *   token.tar.zst.gpg  tar with `token` only (same header rules)
 *   All of them: zstd, then OpenPGP symmetric AES-256, SEIPD v1 (no AEAD, no OpenPGP compression), so
 *   `gpg --batch --passphrase-file F -d X | zstd -d | tar -x` opens them. The manifest is uploaded
 *   last: a set without it is incomplete and never counts as a backup.
 */
export const OBJECT_KINDS = ["file-archive", "logical", "lifeboat-logical", "lifeboat-files", "lifeboat-token", "lifeboat-secrets", "manifest"] as const;
export const ObjectKind = z.enum(OBJECT_KINDS);
export type ObjectKind = z.infer<typeof ObjectKind>;

export const SET_FORMATS = ["seed", "lifeboat"] as const;
export const SetFormat = z.enum(SET_FORMATS);
export type SetFormat = z.infer<typeof SetFormat>;

/** Which kinds make a complete set of each format: one list per layout, the older layout first. */
export const SET_LAYOUTS: Record<SetFormat, readonly (readonly ObjectKind[])[]> = {
  seed: [["file-archive", "logical"]],
  lifeboat: [
    ["lifeboat-logical", "lifeboat-files", "lifeboat-token", "manifest"],
    ["lifeboat-logical", "lifeboat-secrets", "manifest"],
  ],
};

/**
 * The kinds a set of `format` holding `have` lacks, judged against its layout: the one whose own
 * kinds (those not in every layout: the secrets archive; the server and token archives) it holds
 * most of. With none of them the older layout, so such a set is flagged as before issue 15.
 */
export function missingKinds(format: SetFormat, have: ReadonlySet<ObjectKind>): ObjectKind[] {
  const layouts = SET_LAYOUTS[format];
  const shared = (k: ObjectKind) => layouts.every((l) => l.includes(k));
  let best = layouts[0];
  let bestOwn = 0;
  for (const layout of layouts) {
    const own = layout.filter((k) => !shared(k) && have.has(k)).length;
    if (own > bestOwn) [best, bestOwn] = [layout, own];
  }
  return best.filter((k) => !have.has(k));
}

/** Human labels for kinds, used in tables and chart legends. */
export const KIND_LABELS: Record<ObjectKind, string> = {
  "file-archive": "File archive (seed)",
  logical: "Logical DB (seed)",
  "lifeboat-logical": "Logical DB",
  "lifeboat-files": "Server files",
  "lifeboat-token": "Token",
  "lifeboat-secrets": "Token, cred/, tls/",
  manifest: "Manifest",
};

const TS = String.raw`(\d{4})-(\d{2})-(\d{2})_(\d{2})-(\d{2})-(\d{2})`;
const PATTERNS: { kind: ObjectKind; format: SetFormat; re: RegExp }[] = [
  { kind: "file-archive", format: "seed", re: new RegExp(`^k3s_db_${TS}\\.tar\\.zst\\.gpg$`) },
  { kind: "logical", format: "seed", re: new RegExp(`^state_${TS}\\.db\\.gpg$`) },
  { kind: "lifeboat-logical", format: "lifeboat", re: new RegExp(`^lifeboat_${TS}_state\\.db\\.zst\\.gpg$`) },
  { kind: "lifeboat-files", format: "lifeboat", re: new RegExp(`^lifeboat_${TS}_server\\.tar\\.zst\\.gpg$`) },
  { kind: "lifeboat-token", format: "lifeboat", re: new RegExp(`^lifeboat_${TS}_token\\.tar\\.zst\\.gpg$`) },
  { kind: "lifeboat-secrets", format: "lifeboat", re: new RegExp(`^lifeboat_${TS}_secrets\\.tar\\.zst\\.gpg$`) },
  { kind: "manifest", format: "lifeboat", re: new RegExp(`^lifeboat_${TS}_manifest\\.json$`) },
];

export interface ParsedObjectName {
  kind: ObjectKind;
  format: SetFormat;
  /** The timestamp as written in the name, `YYYY-MM-DD_HH-MM-SS`. */
  stamp: string;
  /** The timestamp as a Date (UTC). */
  time: Date;
  /** Set id: `<format>-<stamp>`, e.g. `seed-2024-12-18_00-00-00`. */
  setId: string;
}

/** Formats a Date as the `YYYY-MM-DD_HH-MM-SS` stamp (UTC) used in object names. */
export function formatStamp(d: Date): string {
  const p = (n: number) => String(n).padStart(2, "0");
  return `${String(d.getUTCFullYear()).padStart(4, "0")}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())}_${p(d.getUTCHours())}-${p(d.getUTCMinutes())}-${p(d.getUTCSeconds())}`;
}

/** Parses a `YYYY-MM-DD_HH-MM-SS` stamp; null when it is not one or names an impossible date. */
export function parseStamp(stamp: string): Date | null {
  const m = new RegExp(`^${TS}$`).exec(stamp);
  if (!m) return null;
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number);
  // Date.UTC reads years 0-99 as 1900-1999: set the year on its own, as written.
  const t = new Date(Date.UTC(2000, mo - 1, d, h, mi, s));
  t.setUTCFullYear(y, mo - 1, d);
  // Reject 2024-02-31 and the like, which Date would roll over silently.
  if (t.getUTCMonth() !== mo - 1 || t.getUTCDate() !== d || h > 23 || mi > 59 || s > 59) return null;
  return t;
}

/**
 * Recognizes a backup object by its base name (any folders before it are ignored).
 * Returns null for anything that is not one of the names above.
 */
export function parseObjectName(key: string): ParsedObjectName | null {
  const base = key.slice(key.lastIndexOf("/") + 1);
  for (const p of PATTERNS) {
    const m = p.re.exec(base);
    if (!m) continue;
    const stamp = `${m[1]}-${m[2]}-${m[3]}_${m[4]}-${m[5]}-${m[6]}`;
    const time = parseStamp(stamp);
    if (!time) return null;
    return { kind: p.kind, format: p.format, stamp, time, setId: `${p.format}-${stamp}` };
  }
  return null;
}

/** The object names of a Lifeboat set taken at `time`, one-copy layout (what the agent writes). */
export function lifeboatObjectNames(time: Date): Record<"logical" | "secrets" | "manifest", string> {
  const ts = formatStamp(time);
  return { logical: `lifeboat_${ts}_state.db.zst.gpg`, secrets: `lifeboat_${ts}_secrets.tar.zst.gpg`, manifest: `lifeboat_${ts}_manifest.json` };
}

/** The object names of a Lifeboat set taken at `time` in the two-copy layout written before issue 15. */
export function twoCopyLifeboatObjectNames(time: Date): Record<"logical" | "files" | "token" | "manifest", string> {
  const ts = formatStamp(time);
  return {
    logical: `lifeboat_${ts}_state.db.zst.gpg`,
    files: `lifeboat_${ts}_server.tar.zst.gpg`,
    token: `lifeboat_${ts}_token.tar.zst.gpg`,
    manifest: `lifeboat_${ts}_manifest.json`,
  };
}

/** The object names the seed CronJob writes at `time`. */
export function seedObjectNames(time: Date): Record<"fileArchive" | "logical", string> {
  const ts = formatStamp(time);
  return { fileArchive: `k3s_db_${ts}.tar.zst.gpg`, logical: `state_${ts}.db.gpg` };
}

/** Parses a set id (`seed-<ts>` or `lifeboat-<ts>`); null when malformed. */
export function parseSetId(id: string): { format: SetFormat; stamp: string; time: Date } | null {
  const m = /^(seed|lifeboat)-(.+)$/.exec(id);
  if (!m) return null;
  const time = parseStamp(m[2]);
  return time ? { format: m[1] as SetFormat, stamp: m[2], time } : null;
}
