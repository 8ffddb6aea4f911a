/**
 * A segment's plain text: SQL that sqlite3 (or better-sqlite3's exec) applies to a kine database.
 * docs/continuous.md documents it for the break-glass recipe; keep the two in step.
 *
 *   -- lifeboat-log segment v1
 *   -- generation: 20261203T120000Z
 *   -- revisions: 1201-1260
 *   -- compact-revision: 200
 *   -- read-at: 2026-12-03T12:00:10.123Z
 *   BEGIN;
 *   INSERT INTO kine(id,name,created,deleted,create_revision,prev_revision,lease,value,old_value)
 *     SELECT 1201,'/registry/…',0,0,7,1188,0,CAST('…' AS BLOB),(SELECT value FROM kine WHERE id = 1188)
 *     WHERE 1201 > (SELECT IFNULL(MAX(id),0) FROM kine);
 *   …
 *   COMMIT;
 *
 * Why SQL: a person with gpg, zstd and sqlite3 can apply it by hand. Why the WHERE: a row at or below
 * the database's revision is already there (or was compacted away on purpose), so applying a segment
 * twice, or one that overlaps its base, changes nothing. Why old_value is a sub-select: kine's own
 * INSERT copies it from the previous row (agent/kine/schema.ts), so the segment leaves it out and
 * the restore rebuilds the same bytes; only a row whose old_value differs from that carries its own.
 * The compact revision is a comment: a restore compacts once, at the end, to the one of its point.
 */

export interface KineRow {
  id: number;
  name: string;
  created: number;
  deleted: number;
  create_revision: number;
  prev_revision: number;
  lease: number;
  value: Buffer | null;
  old_value: Buffer | null;
  /** True when old_value equals the value of the row at prev_revision (kine's insert made it so). */
  oldValueRebuildable: boolean;
}

/**
 * A segment's text is never more than this (bytes): a restore refuses a bigger one as not one of ours
 * (segment-codec.ts), so the shipper never writes one (shipper.ts). Reads are capped well below it
 * (reader.ts, MAX_BYTES_PER_READ); only one kine row of more than ~128 MiB could reach it.
 */
export const MAX_SEGMENT_TEXT = 256 << 20;

export interface SegmentHeader {
  generation: string;
  first: number;
  last: number;
  compactRevision: number;
  readAt: string;
}

const quote = (s: string) => `'${s.replaceAll("'", "''")}'`;

/** A blob as a SQL literal: readable text when it is UTF-8 without NULs (it compresses better than hex), else X'…'. */
function blob(b: Buffer | null): string {
  if (b === null) return "NULL";
  const s = b.toString("utf8");
  if (!s.includes("\0") && Buffer.byteLength(s) === b.length && Buffer.from(s, "utf8").equals(b)) return `CAST(${quote(s)} AS BLOB)`;
  return `X'${b.toString("hex")}'`;
}

const int = (n: number | bigint | null) => (n === null ? "NULL" : String(n));

/**
 * The SQL text of a segment (ids ascending, header first). A compacted segment (compaction.ts) adds a
 * `-- compacted: …` comment after the header and `tail` statements after its rows, before COMMIT.
 */
export function formatSegment(header: SegmentHeader, rows: KineRow[], compacted?: { note: string; tail: string[] }): string {
  const out = [
    "-- lifeboat-log segment v1",
    `-- generation: ${header.generation}`,
    `-- revisions: ${header.first}-${header.last}`,
    `-- compact-revision: ${header.compactRevision}`,
    `-- read-at: ${header.readAt}`,
    ...(compacted ? [`-- compacted: ${compacted.note}`] : []),
    "BEGIN;",
  ];
  for (const r of rows) {
    const old = r.oldValueRebuildable ? `(SELECT value FROM kine WHERE id = ${int(r.prev_revision)})` : blob(r.old_value);
    out.push(
      `INSERT INTO kine(id,name,created,deleted,create_revision,prev_revision,lease,value,old_value) SELECT ${r.id},${quote(r.name)},${int(r.created)},${int(r.deleted)},${int(r.create_revision)},${int(r.prev_revision)},${int(r.lease)},${blob(r.value)},${old} WHERE ${r.id} > (SELECT IFNULL(MAX(id),0) FROM kine);`,
    );
  }
  out.push(...(compacted?.tail ?? []), "COMMIT;", "");
  return out.join("\n");
}

/** Where the statement that begins at `from` ends (after its `;\n`), stepping over SQL strings ('' inside them), whose values may hold newlines and semicolons. */
function statementEnd(sql: string, from: number): number {
  let i = from;
  for (;;) {
    const quote = sql.indexOf("'", i);
    const semi = sql.indexOf(";\n", i);
    if (semi === -1) return sql.length;
    if (quote === -1 || semi < quote) return semi + 2;
    let j = quote + 1;
    for (;;) {
      const close = sql.indexOf("'", j);
      if (close === -1) return sql.length;
      if (sql[close + 1] === "'") j = close + 2;
      else {
        i = close + 1;
        break;
      }
    }
  }
}

/**
 * Calls `fn` with where each statement of a segment's text begins and ends (after its `;\n`): its
 * header comments, BEGIN and COMMIT are passed over; string literals are stepped over (statementEnd),
 * so text inside a value is never taken for a statement.
 */
export function forEachStatement(sql: string, fn: (start: number, end: number) => void): void {
  let pos = 0;
  while (pos < sql.length) {
    if (sql.startsWith("--", pos) || sql.startsWith("BEGIN;", pos) || sql.startsWith("COMMIT;", pos) || sql[pos] === "\n") {
      const nl = sql.indexOf("\n", pos);
      pos = nl === -1 ? sql.length : nl + 1;
      continue;
    }
    const end = statementEnd(sql, pos);
    fn(pos, end);
    pos = end;
  }
}

/** How many row INSERTs a segment's text holds. */
export function countRowStatements(sql: string): number {
  let n = 0;
  forEachStatement(sql, (start) => {
    if (sql.startsWith("INSERT INTO kine(", start)) n++;
  });
  return n;
}

/** Reads a segment's header; null when the text does not start like one (a damaged or foreign object). */
export function parseSegmentHeader(sql: string): SegmentHeader | null {
  const head = sql.slice(0, 400).split("\n");
  if (head[0] !== "-- lifeboat-log segment v1") return null;
  const field = (name: string) => head.find((l) => l.startsWith(`-- ${name}: `))?.slice(name.length + 5);
  const revs = /^(\d+)-(\d+)$/.exec(field("revisions") ?? "");
  const compact = Number(field("compact-revision"));
  const generation = field("generation");
  const readAt = field("read-at");
  if (!revs || !generation || !readAt || !Number.isInteger(compact)) return null;
  return { generation, first: Number(revs[1]), last: Number(revs[2]), compactRevision: compact, readAt };
}

/** True when the text ends like a whole segment (its COMMIT), so a cut-short one is never applied. */
export function segmentIsWhole(sql: string): boolean {
  return sql.endsWith("\nCOMMIT;\n");
}

/**
 * The header of a text that is the whole segment `name` says it is (its generation and revisions, and
 * its COMMIT at the end); null for one that is damaged, cut short or another segment.
 */
export function wholeSegmentHeader(sql: string, name: { generation: string; first: number; last: number }): SegmentHeader | null {
  const h = parseSegmentHeader(sql);
  if (!h || !segmentIsWhole(sql) || h.first !== name.first || h.last !== name.last || h.generation !== name.generation) return null;
  return h;
}
