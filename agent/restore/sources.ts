import { createReadStream, promises as fsp } from "node:fs";
import path from "node:path";
import type { Readable } from "node:stream";
import { parseObjectName, parseSetId, type ObjectKind } from "../../lib/contracts/backup-names";
import type { RestoreSource } from "../../lib/contracts/agent-restore";
import { NotFoundError } from "../../lib/storage/errors";
import { setFolder, takenBy, type BackupSet } from "../../lib/backups/grouping";
import { BackupManifest } from "../../lib/contracts/manifest";
import { listStoreSets } from "../backup/sets";
import type { AgentDeps } from "../module";
import { recoveryBestPath } from "../recovery/store";

/**
 * Turns a restore source (a backup set, one object, a recovery, a local file) into the concrete
 * things to read: the archive or database that holds state.db and, for a Lifeboat logical backup,
 * the set's secrets archive (token, cred/, tls/: one-copy layout) or token archive (two-copy layout).
 */

/** The request names something that cannot be restored; the message says what to use instead. */
export class SourceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SourceError";
  }
}

/** One thing to read: an object in the store, or a file on this host. */
export interface Origin {
  /** How its bytes are laid out. "plain-db" is a SQLite file as it is. */
  layout: ObjectKind | "plain-db";
  /** The object key or file path, for messages. */
  name: string;
  size: number | null;
  /** What it unpacks to at least, when known better than its size (a Lifeboat set's manifest gives its database's size). */
  expandsTo?: number | null;
  open(): Promise<Readable>;
  /**
   * The object's sha256 as its set's manifest records it (a Lifeboat set restored by its id): the
   * bytes read must hash to it, or the object is not the one the backup uploaded.
   */
  sha256?: string | null;
  /** Where a plain file is staged, below the staging directory: "db/state.db" unless it is a journal beside it. */
  stageAs?: "db/state.db-wal" | "db/state.db-journal";
}

export interface ResolvedSource {
  description: string;
  primary: Origin;
  /**
   * The archive staged beside a Lifeboat state.db archive, which holds no token: the set's secrets
   * archive (token, cred/, tls/; one-copy layout) or else its token archive (two-copy layout).
   */
  token: Origin | null;
  /**
   * A database file's WAL or rollback journal beside it (`state.db-wal`, `state.db-journal`), staged
   * with it so that SQLite replays (or rolls back) what only they hold, as it would on the host.
   */
  journals?: Origin[];
  /** When the backup was taken (from its name), if known. */
  takenAt: Date | null;
}

const SQLITE_MAGIC = Buffer.from("SQLite format 3\0", "latin1");

function storeOrigin(
  deps: AgentDeps,
  key: string,
  layout: ObjectKind,
  size: number | null,
  expandsTo: number | null = null,
  sha256: string | null = null,
): Origin {
  return { layout, name: key, size, expandsTo, sha256, open: () => deps.store().get(key) };
}

/**
 * A Lifeboat set's manifest, or null when the set has none or it cannot be read or parsed (the
 * callers then go without it). Never throws.
 */
export async function readSetManifest(deps: Pick<AgentDeps, "store">, set: BackupSet): Promise<BackupManifest | null> {
  const obj = set.objects.find((o) => o.kind === "manifest");
  if (!obj || obj.size > 1 << 20) return null;
  try {
    const parts: Buffer[] = [];
    for await (const c of await deps.store().get(obj.key)) parts.push(c as Buffer);
    const parsed = BackupManifest.safeParse(JSON.parse(Buffer.concat(parts).toString("utf8")));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

/** The sha256 `manifest` records for the object named like `key` (by its name: the set may have been moved to another folder), or null. */
function recordedSha256(manifest: BackupManifest | null, key: string): string | null {
  return manifest?.objects.find((o) => path.posix.basename(o.key) === path.posix.basename(key))?.sha256 ?? null;
}

async function fileOrigin(file: string, layout: Origin["layout"]): Promise<Origin> {
  const st = await fsp.stat(file);
  return { layout, name: file, size: st.size, open: async () => createReadStream(file, { highWaterMark: 1 << 20 }) };
}

/**
 * The WAL and rollback journal beside a database file, when there and not empty. A copy of k3s's db/
 * taken after it died holds commits only its WAL has; staging the database alone would lose them
 * without a word. Anything there that is not a regular file (a link, a directory) is refused rather
 * than left out.
 */
async function journalsBeside(file: string): Promise<Origin[]> {
  const out: Origin[] = [];
  for (const [suffix, stageAs] of [
    ["-wal", "db/state.db-wal"],
    ["-journal", "db/state.db-journal"],
  ] as const) {
    const side = file + suffix;
    const st = await fsp.lstat(side).catch(() => null);
    if (!st) continue;
    if (!st.isFile()) throw new SourceError(`${side} beside the database is not a regular file: move it away, or copy the real file there, and try again.`);
    if (st.size > 0) out.push({ ...(await fileOrigin(side, "plain-db")), stageAs });
  }
  return out;
}

/** Kinds that hold a database, best first for each format. */
const DATA_PREFERENCE: Record<"seed" | "lifeboat", ObjectKind[]> = {
  // Two-copy layout: the server archive holds the same verified snapshot plus the token (and cred/,
  // tls/). One-copy layout: the state.db archive, with the secrets archive beside it (companionOf).
  lifeboat: ["lifeboat-files", "lifeboat-logical"],
  // `sqlite3 .backup` is consistent; the file archive is a live copy that may need its WAL replayed.
  seed: ["logical", "file-archive"],
};

/** What stands beside a Lifeboat state.db archive, best first: secrets (one-copy layout), token (two-copy). */
const COMPANIONS = ["lifeboat-secrets", "lifeboat-token"] as const;
const KIND_NOUNS: Partial<Record<ObjectKind, string>> = { manifest: "manifest", "lifeboat-token": "token archive", "lifeboat-secrets": "secrets archive" };
const holdsDatabase = (kind: ObjectKind) => !(kind in KIND_NOUNS);

/** The name of a state.db archive's companion of `kind` (same folder, same timestamp). */
function companionName(logicalName: string, kind: (typeof COMPANIONS)[number]): string {
  return logicalName.replace(/_state\.db\.zst\.gpg$/, kind === "lifeboat-secrets" ? "_secrets.tar.zst.gpg" : "_token.tar.zst.gpg");
}

async function isSqliteFile(file: string): Promise<boolean> {
  const fh = await fsp.open(file, "r");
  try {
    const head = Buffer.alloc(16);
    const { bytesRead } = await fh.read(head, 0, 16, 0);
    return bytesRead === 16 && head.equals(SQLITE_MAGIC);
  } finally {
    await fh.close();
  }
}

/**
 * A set already listed (a point restore's plan lists the store once: listing it again cost one more
 * round trip, and one per 1,000 objects of a large bucket), resolved as resolveSource resolves a set id.
 */
export async function resolveListedSet(deps: AgentDeps, set: BackupSet, label = `backup set ${set.id}`): Promise<ResolvedSource> {
  const pick = DATA_PREFERENCE[set.format].map((k) => set.objects.find((o) => o.kind === k)).find(Boolean);
  if (!pick) throw new SourceError(`Backup set ${set.id} has no database archive (it holds ${set.objects.map((o) => o.kind).join(", ") || "nothing"}).`);
  const companion =
    pick.kind === "lifeboat-logical"
      ? (set.objects.find((o) => o.kind === "lifeboat-secrets") ?? set.objects.find((o) => o.kind === "lifeboat-token"))
      : undefined;
  // The manifest's database size (what the archives unpack to, at least) lets a restore refuse one
  // that cannot fit before downloading it; its objects' sha256 prove the objects are the ones the
  // backup uploaded. Without a manifest (or one that cannot be read) the restore goes without both.
  const manifest = set.format === "lifeboat" ? await readSetManifest(deps, set) : null;
  const dbBytes = manifest?.database.fileSize ?? null;
  return {
    description: `${label}: ${pick.key}`,
    primary: storeOrigin(deps, pick.key, pick.kind, pick.size, dbBytes, recordedSha256(manifest, pick.key)),
    token: companion ? storeOrigin(deps, companion.key, companion.kind, companion.size, null, recordedSha256(manifest, companion.key)) : null,
    takenAt: set.time,
  };
}

/** The set "latest" names among `sets` (see resolveLatest), or undefined. */
export function latestSet(sets: BackupSet[]): BackupSet | undefined {
  return sets
    .filter((s) => s.missing.length === 0 && setFolder(s) === null && DATA_PREFERENCE[s.format].some((k) => s.objects.some((o) => o.kind === k)))
    .sort((a, b) => takenBy(b).getTime() - takenBy(a).getTime() || b.time.getTime() - a.time.getTime())[0];
}

/**
 * "latest": the newest complete set at the store's top that holds a database (of either format); a
 * set in a folder below the store is another cluster's or a copy (`setFolder`), never "latest".
 * Newest by `takenBy`: a set named by a clock that ran ahead is as new as when the store received it.
 * Throws SourceError when there is none.
 */
async function resolveLatest(deps: AgentDeps): Promise<ResolvedSource> {
  const store = deps.store();
  const { sets } = await listStoreSets(store);
  const newest = latestSet(sets);
  if (!newest) throw new SourceError(`${store.description} holds no complete backup set to restore. List what it holds with \`lifeboat-agent list\`.`);
  return resolveListedSet(deps, newest, `backup set ${newest.id} (the newest complete one)`);
}

/**
 * Resolves `source` ("latest" for a backup: the newest complete set). Throws SourceError (unknown set, not a database archive, missing file),
 * AgentConfigError (no store configured) or StorageError/NotFoundError from the store.
 */
export async function resolveSource(deps: AgentDeps, source: RestoreSource): Promise<ResolvedSource> {
  switch (source.kind) {
    case "backup": {
      if (source.setId === "latest") return resolveLatest(deps);
      const parsed = parseSetId(source.setId);
      if (!parsed) throw new SourceError(`"${source.setId}" is not a backup set id (they look like lifeboat-2024-12-18_00-00-00 or seed-2024-12-18_00-00-00).`);
      const store = deps.store();
      const { sets } = await listStoreSets(store);
      const set = sets.find((s) => s.id === source.setId);
      if (!set) throw new SourceError(`There is no backup set ${source.setId} in ${store.description}. List the sets with \`lifeboat-agent list\`.`);
      return resolveListedSet(deps, set);
    }
    case "object": {
      const parsed = parseObjectName(source.key);
      if (!parsed)
        throw new SourceError(
          `${source.key} is not named like a backup object (k3s_db_<ts>.tar.zst.gpg, state_<ts>.db.gpg, lifeboat_<ts>_…), so its layout is unknown.`,
        );
      if (!holdsDatabase(parsed.kind))
        throw new SourceError(`${source.key} holds no database (it is the set's ${KIND_NOUNS[parsed.kind]}). Restore the set instead: ${parsed.setId}.`);
      const head = await deps.store().head(source.key);
      let token: Origin | null = null;
      if (parsed.kind === "lifeboat-logical") {
        for (const kind of COMPANIONS) {
          const key = companionName(source.key, kind);
          const th = await deps
            .store()
            .head(key)
            .catch((err) => {
              if (err instanceof NotFoundError) return null;
              throw err;
            });
          if (th) {
            token = storeOrigin(deps, key, kind, th.size);
            break;
          }
        }
      }
      return { description: `object ${source.key}`, primary: storeOrigin(deps, source.key, parsed.kind, head.size), token, takenAt: parsed.time };
    }
    case "recovery": {
      const best = await recoveryBestPath(deps.config, source.id);
      return {
        description: `recovery ${source.id}: ${best.rung} result (${best.rows} rows)`,
        primary: await fileOrigin(best.path, "plain-db"),
        token: null,
        takenAt: null,
      };
    }
    case "file": {
      const file = path.resolve(source.path);
      const st = await fsp.stat(file).catch(() => null);
      if (!st?.isFile()) throw new SourceError(`${file} is not a file on this host.`);
      if (await isSqliteFile(file)) {
        // SQLite names them after the resolved path: beside the file a symlink points at.
        const journals = await journalsBeside(await fsp.realpath(file));
        const beside = journals.map((j) => path.basename(j.name)).join(" and ");
        return {
          description: `database file ${file}${beside ? ` with its ${beside}` : ""}`,
          primary: await fileOrigin(file, "plain-db"),
          token: null,
          journals,
          takenAt: null,
        };
      }
      const parsed = parseObjectName(file);
      if (!parsed || !holdsDatabase(parsed.kind))
        throw new SourceError(
          `${file} is neither a SQLite database nor named like a backup archive (k3s_db_<ts>.tar.zst.gpg, state_<ts>.db.gpg, lifeboat_<ts>_server.tar.zst.gpg, lifeboat_<ts>_state.db.zst.gpg).`,
        );
      let token: Origin | null = null;
      if (parsed.kind === "lifeboat-logical") {
        for (const kind of COMPANIONS) {
          const companion = companionName(file, kind);
          if (await fsp.stat(companion).catch(() => null)) {
            token = await fileOrigin(companion, kind);
            break;
          }
        }
      }
      return { description: `archive file ${file}`, primary: await fileOrigin(file, parsed.kind), token, takenAt: parsed.time };
    }
  }
}
