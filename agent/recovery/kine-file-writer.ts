import { closeSync, openSync, writeSync } from "node:fs";
import Database from "better-sqlite3";
import { KINE_SCHEMA_SQL } from "../kine/schema";
import { PAGE_INDEX_INTERIOR, PAGE_INDEX_LEAF, PAGE_TABLE_INTERIOR, PAGE_TABLE_LEAF, SQLITE_MAGIC, localPayloadSize, serialTypeSize } from "./sqlite-format";

/**
 * Writes a salvage's kine rows straight into a new SQLite file (sqlite.org/fileformat2.html), the
 * way SQLite itself would lay them out after `INSERT`s in id order and kine's six `CREATE INDEX`:
 * the table b-tree from the rows' own records (copied as the damaged file holds them, so every
 * column keeps its exact bytes and types), each index b-tree from the rows' keys sorted as SQLite's
 * BINARY collation sorts them, `sqlite_sequence`, and page 1 with the schema SQLite itself writes for
 * kine's statements. Bulk-building through SQLite spent ~2 s of a 200 MB salvage in its b-tree
 * inserts, its page cache and its sorts; this writes each page once, in order.
 *
 * It takes only what it can write exactly: UTF-8 files without reserved bytes, pages of 4 KiB or
 * more, kine-shaped records in increasing id order, index keys that fit on their page, integers
 * within 2^53 and kine's UNIQUE (name, prev_revision) holding. Anything else throws
 * `DirectWriteUnsupported` and the caller builds the file through SQLite instead. Rows it is not
 * given (damaged ones) are inserted afterwards through SQLite, which keeps the indexes.
 */
export class DirectWriteUnsupported extends Error {
  constructor(reason: string) {
    super(`direct write not possible: ${reason}`);
    this.name = "DirectWriteUnsupported";
  }
}

interface SchemaRow {
  type: string;
  name: string;
  tbl_name: string;
  sql: string;
}

let schemaRows: SchemaRow[] | null = null;
let sqliteVersionNumber = 0;

/** kine's schema as SQLite records it (the statements' text as SQLite keeps it), and SQLite's version number. */
function kineSchemaRows(): SchemaRow[] {
  if (!schemaRows) {
    const db = new Database(":memory:");
    try {
      db.exec(KINE_SCHEMA_SQL);
      schemaRows = db.prepare("SELECT type, name, tbl_name, sql FROM sqlite_schema ORDER BY rowid").all() as SchemaRow[];
      const [a, b, c] = String((db.prepare("SELECT sqlite_version() AS v").get() as { v: string }).v)
        .split(".")
        .map(Number);
      sqliteVersionNumber = a * 1_000_000 + b * 1000 + (c || 0);
    } finally {
      db.close();
    }
  }
  return schemaRows;
}

/** The columns of kine's indexes, in SQLite's order of creation; each key ends with the rowid. */
type KeyColumn = "name" | "id" | "deleted" | "prev";
const INDEX_COLUMNS: Record<string, KeyColumn[]> = {
  kine_name_index: ["name"],
  kine_name_id_index: ["name", "id"],
  kine_id_deleted_index: ["id", "deleted"],
  kine_prev_revision_index: ["prev"],
  kine_name_prev_revision_uindex: ["name", "prev"],
  kine_id_compact_rev_key_with_prev_revision_index: ["id", "name", "prev"],
};
const PARTIAL_INDEX = "kine_id_compact_rev_key_with_prev_revision_index";
const UNIQUE_INDEX = "kine_name_prev_revision_uindex";

function varintLength(v: number): number {
  if (v < 0 || v > Number.MAX_SAFE_INTEGER) return 9;
  let n = 1;
  while (v >= 128 && n < 9) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

/** Writes a non-negative varint below 2^56 (8 bytes of 7 bits: every length and rowid here). */
function writeVarint(buf: Buffer, off: number, v: number): number {
  const len = varintLength(v);
  if (len > 8) throw new DirectWriteUnsupported("a value beyond 2^53");
  for (let i = len - 1; i >= 0; i--) {
    buf[off + i] = (v % 128) | (i === len - 1 ? 0 : 0x80);
    v = Math.floor(v / 128);
  }
  return off + len;
}

/** The smallest serial type SQLite gives an integer (schema format 4: 0 and 1 take no bytes). */
function intSerialType(v: number): number {
  if (v === 0) return 8;
  if (v === 1) return 9;
  if (v >= -128 && v <= 127) return 1;
  if (v >= -32768 && v <= 32767) return 2;
  if (v >= -8388608 && v <= 8388607) return 3;
  if (v >= -2147483648 && v <= 2147483647) return 4;
  if (v >= -140737488355328 && v <= 140737488355327) return 5;
  return 6;
}

/** Writes integer `v` as serial type `t` (1–6, or 8 and 9, which take no bytes); returns the end. */
function writeInt(buf: Buffer, off: number, t: number, v: number): number {
  const size = serialTypeSize(t);
  if (size === 8) buf.writeBigInt64BE(BigInt(v), off);
  else if (size > 0) buf.writeIntBE(v, off, size);
  return off + size;
}

/** A record of texts (latin1-encoded bytes given as Buffers), integers and NULLs, as SQLite encodes it. */
function encodeRecord(values: (Buffer | number | null)[]): Buffer {
  const types = values.map((v) => (v === null ? 0 : typeof v === "number" ? intSerialType(v) : v.length * 2 + 13));
  let headerSize = types.reduce((s, t) => s + varintLength(t), 0);
  headerSize += varintLength(headerSize + 1);
  const bodySize = types.reduce((s, t) => s + serialTypeSize(t), 0);
  const out = Buffer.alloc(headerSize + bodySize);
  let h = writeVarint(out, 0, headerSize);
  for (const t of types) h = writeVarint(out, h, t);
  let b = headerSize;
  values.forEach((v, i) => {
    if (typeof v === "number") b = writeInt(out, b, types[i], v);
    else if (v) b += v.copy(out, b);
  });
  return out;
}

/** Writes `len` bytes of `buf` at `pos` of the file, however many calls it takes. */
function writeAllAt(fd: number, buf: Buffer, len: number, pos: number): void {
  let done = 0;
  while (done < len) done += writeSync(fd, buf, done, len - done, pos + done);
}

/** Pages go to the file in the order their numbers are given out (page 1 last, at its place). */
class PageSink {
  private readonly chunk: Buffer;
  private used = 0;
  private chunkFirst = 2;
  next = 2;

  constructor(
    private readonly fd: number,
    private readonly pageSize: number,
    private readonly chunkPages = 256,
  ) {
    this.chunk = Buffer.alloc(pageSize * chunkPages);
  }

  /** A zeroed page and its number. */
  alloc(): [number, Buffer] {
    if (this.used === this.chunkPages) this.flush();
    const at = this.used++ * this.pageSize;
    return [this.next++, this.chunk.subarray(at, at + this.pageSize)];
  }

  flush(): void {
    if (this.used === 0) return;
    const bytes = this.used * this.pageSize;
    writeAllAt(this.fd, this.chunk, bytes, (this.chunkFirst - 1) * this.pageSize);
    this.chunk.fill(0, 0, bytes);
    this.chunkFirst += this.used;
    this.used = 0;
  }

  writePage1(page: Buffer): void {
    writeAllAt(this.fd, page, page.length, 0);
  }
}

/** A b-tree page being filled: cells from the end of the usable area down, their pointers from the header up. */
class PageFill {
  readonly buf: Buffer;
  count = 0;
  content: number;
  constructor(
    pageSize: number,
    private readonly usable: number,
    private readonly headerAt: number,
    private readonly headerSize: number,
  ) {
    this.buf = Buffer.alloc(pageSize);
    this.content = usable;
  }
  reset(): void {
    this.buf.fill(0);
    this.count = 0;
    this.content = this.usable;
  }
  fits(cellSize: number): boolean {
    return this.headerAt + this.headerSize + 2 * (this.count + 1) + cellSize <= this.content;
  }
  /** Room for `cellSize` bytes; returns where the cell starts (its pointer is recorded). */
  place(cellSize: number): number {
    this.content -= cellSize;
    this.buf.writeUInt16BE(this.content, this.headerAt + this.headerSize + 2 * this.count++);
    return this.content;
  }
  /** Writes the page header into `dest` (the finished page), copies the page. */
  finish(dest: Buffer, type: number, rightChild = 0): void {
    const h = this.headerAt;
    this.buf[h] = type;
    this.buf.writeUInt16BE(0, h + 1);
    this.buf.writeUInt16BE(this.count, h + 3);
    this.buf.writeUInt16BE(this.content === 65536 ? 0 : this.content, h + 5);
    this.buf[h + 7] = 0;
    if (type === PAGE_TABLE_INTERIOR || type === PAGE_INDEX_INTERIOR) this.buf.writeUInt32BE(rightChild, h + 8);
    this.buf.copy(dest, 0);
  }
}

export interface DirectRowKeys {
  /** The name's bytes (a binary string: one char per byte, so JavaScript's order is memcmp's). */
  name: string;
  deleted: number | null;
  prev: number | null;
}

export class KineFileWriter {
  private readonly fd: number;
  private readonly sink: PageSink;
  private readonly usable: number;
  private readonly leaf: PageFill;
  private readonly maxLocal: number;
  /** The table's leaves: page number and largest rowid. */
  private leafPages: number[] = [];
  private leafKeys: number[] = [];
  private leafMax = 0;
  // Index keys of every row, in id order.
  private count = 0;
  private ids = new Float64Array(1024);
  private nameOf = new Int32Array(1024);
  /** NaN for NULL. */
  private deleted = new Float64Array(1024);
  private prev = new Float64Array(1024);
  private readonly names = new Map<string, number>();
  private readonly nameList: string[] = [];
  private lastId = -Infinity;
  private closed = false;

  constructor(
    outFile: string,
    private readonly pageSize: number,
  ) {
    if (pageSize < 4096) throw new DirectWriteUnsupported("pages under 4 KiB");
    kineSchemaRows();
    this.usable = pageSize;
    this.maxLocal = this.usable - 35;
    this.fd = openSync(outFile, "w", 0o600);
    this.sink = new PageSink(this.fd, pageSize);
    this.leaf = new PageFill(pageSize, this.usable, 0, 8);
  }

  /**
   * Adds a row: its rowid, its whole record (`payload`, read only during the call) and its index keys.
   * Rows come in increasing id order.
   */
  addRow(id: number, payload: Buffer, keys: DirectRowKeys): void {
    if (!(id > this.lastId) || !Number.isSafeInteger(id) || id < 1) throw new DirectWriteUnsupported("rows out of id order");
    this.lastId = id;
    const size = payload.length;
    const local = localPayloadSize(size, this.usable);
    const cellSize = varintLength(size) + varintLength(id) + local + (local < size ? 4 : 0);
    if (!this.leaf.fits(cellSize)) this.closeLeaf();
    let firstOverflow = 0;
    if (local < size) {
      // The rest of the payload on a chain of overflow pages, each a next-page number and usable-4 bytes.
      const room = this.usable - 4;
      let at = local;
      let page: Buffer;
      [firstOverflow, page] = this.sink.alloc();
      for (;;) {
        const take = Math.min(room, size - at);
        payload.copy(page, 4, at, at + take);
        at += take;
        if (at >= size) break;
        // The next page's number before it is taken: taking it may send this page to the file.
        page.writeUInt32BE(this.sink.next, 0);
        page = this.sink.alloc()[1];
      }
    }
    const buf = this.leaf.buf;
    let off = this.leaf.place(cellSize);
    off = writeVarint(buf, off, size);
    off = writeVarint(buf, off, id);
    off += payload.copy(buf, off, 0, local);
    if (firstOverflow) buf.writeUInt32BE(firstOverflow, off);
    this.leafMax = id;

    let n = this.names.get(keys.name);
    if (n === undefined) {
      n = this.nameList.length;
      this.names.set(keys.name, n);
      this.nameList.push(keys.name);
    }
    if ((keys.deleted !== null && !Number.isSafeInteger(keys.deleted)) || (keys.prev !== null && !Number.isSafeInteger(keys.prev)))
      throw new DirectWriteUnsupported("an index key beyond 2^53");
    if (this.count === this.ids.length) {
      const grow = <T extends Float64Array | Int32Array>(a: T): T => {
        const b = new (a.constructor as new (n: number) => T)(a.length * 2);
        b.set(a);
        return b;
      };
      this.ids = grow(this.ids);
      this.nameOf = grow(this.nameOf);
      this.deleted = grow(this.deleted);
      this.prev = grow(this.prev);
    }
    const r = this.count++;
    this.ids[r] = id;
    this.nameOf[r] = n;
    this.deleted[r] = keys.deleted ?? NaN;
    this.prev[r] = keys.prev ?? NaN;
  }

  private closeLeaf(): void {
    if (this.leaf.count === 0) return;
    const [no, page] = this.sink.alloc();
    this.leaf.finish(page, PAGE_TABLE_LEAF);
    this.leafPages.push(no);
    this.leafKeys.push(this.leafMax);
    this.leaf.reset();
  }

  /**
   * The interior levels over `children`, bottom-up; returns the root. `seps[t]` is what the cell of
   * child t carries: in a table, child t's largest rowid (one per child, the last goes up with its
   * page); in an index, the key between child t and child t+1 (one fewer than the children: a full
   * page's next key goes up a level as the divider between it and the next page).
   */
  private buildInteriors(
    children: number[],
    seps: number[],
    type: number,
    sepSize: (sep: number) => number,
    writeSep: (buf: Buffer, at: number, sep: number) => void,
  ): number {
    const fill = new PageFill(this.pageSize, this.usable, 0, 12);
    while (children.length > 1) {
      const upChildren: number[] = [];
      const upSeps: number[] = [];
      const m = children.length - 1;
      let p = 0;
      while (p <= m) {
        // Cells p..e-1, the right child e.
        let e = p;
        let used = 0;
        while (e < m) {
          const cell = 4 + sepSize(seps[e]);
          if (12 + 2 * (e - p + 1) + used + cell > this.usable) break;
          used += cell;
          e++;
        }
        // Never leave a last page with a right child and no cell.
        if (e === m - 1 && e - p >= 2) e--;
        fill.reset();
        for (let t = p; t < e; t++) {
          const at = fill.place(4 + sepSize(seps[t]));
          fill.buf.writeUInt32BE(children[t], at);
          writeSep(fill.buf, at + 4, seps[t]);
        }
        const [no, page] = this.sink.alloc();
        fill.finish(page, type, children[e]);
        upChildren.push(no);
        if (e < seps.length) upSeps.push(seps[e]);
        p = e + 1;
      }
      children = upChildren;
      seps = upSeps;
    }
    return children[0];
  }

  /** The order of an index's keys (positions into the rows), or throws when kine's UNIQUE index would not hold. */
  private order(index: string): Int32Array {
    const n = this.count;
    const cols = INDEX_COLUMNS[index];
    const prev = this.prev;
    if (index === PARTIAL_INDEX) {
      // WHERE name != 'compact_rev_key' AND prev_revision != 0 (a NULL prev_revision is not != 0).
      const compactKey = this.names.get("compact_rev_key") ?? -1;
      const out = new Int32Array(n);
      let k = 0;
      for (let i = 0; i < n; i++) if (prev[i] === prev[i] && prev[i] !== 0 && this.nameOf[i] !== compactKey) out[k++] = i;
      return out.subarray(0, k);
    }
    const all = new Int32Array(n);
    for (let i = 0; i < n; i++) all[i] = i;
    if (cols[0] === "id") return all;
    // NULL first, then numbers; ties by rowid (the position: rows are in id order).
    const cmpPrev = (a: number, b: number): number => {
      const pa = prev[a];
      const pb = prev[b];
      if (pa !== pa) return pb !== pb ? 0 : -1;
      if (pb !== pb) return 1;
      return pa - pb;
    };
    if (cols[0] === "prev") return all.sort((a, b) => cmpPrev(a, b) || a - b);
    // By name: the distinct names sorted once (binary strings: JavaScript's order is memcmp's), then
    // rows by their name's rank, keeping id order within.
    const names = this.nameList;
    const sortedNames = names.map((_, i) => i).sort((a, b) => (names[a] < names[b] ? -1 : names[a] > names[b] ? 1 : 0));
    const rank = new Int32Array(names.length);
    sortedNames.forEach((nameNo, r) => (rank[nameNo] = r));
    const starts = new Int32Array(names.length + 1);
    for (let i = 0; i < n; i++) starts[rank[this.nameOf[i]] + 1]++;
    for (let r = 0; r < names.length; r++) starts[r + 1] += starts[r];
    const out = new Int32Array(n);
    const at = starts.slice(0, names.length);
    for (let i = 0; i < n; i++) out[at[rank[this.nameOf[i]]]++] = i;
    if (cols[1] !== "prev") return out;
    // (name, prev_revision): each name's rows by prev_revision, then id; kine's UNIQUE index must hold.
    for (let r = 0; r < names.length; r++) {
      const s = starts[r];
      const e = starts[r + 1];
      let sorted = true;
      for (let i = s + 1; i < e && sorted; i++) if (cmpPrev(out[i - 1], out[i]) > 0) sorted = false;
      if (!sorted) out.subarray(s, e).sort((a, b) => cmpPrev(a, b) || a - b);
      for (let i = s + 1; i < e; i++) if (prev[out[i]] === prev[out[i - 1]]) throw new DirectWriteUnsupported(`${UNIQUE_INDEX} would not hold`);
    }
    return out;
  }

  /**
   * The keys of one index in its order: each key's length, and a function writing key k (a SQLite
   * record) into a page. Keys are written straight into their pages, not gathered first: a copy per
   * key per page was a tenth of the writer's time.
   */
  private indexKeys(index: string): { lengths: Int32Array; write: (buf: Buffer, at: number, k: number) => number } {
    const rows = this.order(index);
    // Column codes: 0 name, 1 id (and the rowid every key ends with), 2 deleted, 3 prev_revision.
    const codes = [...INDEX_COLUMNS[index].map((c) => ["name", "id", "deleted", "prev"].indexOf(c)), 1];
    const nameBytes = this.nameList.map((s) => Buffer.from(s, "latin1"));
    const { ids, deleted, prev, nameOf } = this;
    const valueAt = (code: number, i: number): number => (code === 1 ? ids[i] : code === 2 ? deleted[i] : prev[i]);
    const typeAt = (code: number, i: number): number => {
      if (code === 0) return nameBytes[nameOf[i]].length * 2 + 13;
      const v = valueAt(code, i);
      return v !== v ? 0 : intSerialType(v);
    };
    const lengths = new Int32Array(rows.length);
    for (let k = 0; k < rows.length; k++) {
      const i = rows[k];
      let header = 1;
      let body = 0;
      for (const code of codes) {
        const t = typeAt(code, i);
        header += varintLength(t);
        body += serialTypeSize(t);
      }
      if (header > 127) throw new DirectWriteUnsupported(`a key of ${index} has a long header`);
      lengths[k] = header + body;
    }
    const write = (buf: Buffer, at: number, k: number): number => {
      const i = rows[k];
      let h = at + 1;
      for (const code of codes) h = writeVarint(buf, h, typeAt(code, i));
      buf[at] = h - at;
      let b = h;
      for (const code of codes) {
        if (code === 0) {
          const name = nameBytes[nameOf[i]];
          for (let j = 0; j < name.length; j++) buf[b + j] = name[j];
          b += name.length;
        } else b = writeInt(buf, b, typeAt(code, i), valueAt(code, i));
      }
      return b;
    };
    return { lengths, write };
  }

  /** Builds one index b-tree; returns its root. */
  private buildIndex(index: string): number {
    const { lengths, write } = this.indexKeys(index);
    const n = lengths.length;
    const maxLocal = Math.floor(((this.usable - 12) * 64) / 255) - 23;
    for (let k = 0; k < n; k++) if (lengths[k] > maxLocal) throw new DirectWriteUnsupported(`a key of ${index} overflows its page`);
    const cellSize = (k: number) => varintLength(lengths[k]) + lengths[k];
    const put = (buf: Buffer, at: number, k: number) => write(buf, writeVarint(buf, at, lengths[k]), k);

    // Leaves: keys packed in order; the key after a full leaf goes up as the divider between it and the next.
    const leaf = new PageFill(this.pageSize, this.usable, 0, 8);
    const children: number[] = [];
    const dividers: number[] = [];
    let s = 0;
    while (s < n || children.length === 0) {
      let e = s;
      let used = 0;
      while (e < n) {
        const c = cellSize(e);
        if (8 + 2 * (e - s + 1) + used + c > this.usable) break;
        used += c;
        e++;
      }
      // A divider needs a key after it: never end with an empty leaf.
      if (e === n - 1 && e - s >= 2) e--;
      leaf.reset();
      for (let t = s; t < e; t++) put(leaf.buf, leaf.place(cellSize(t)), t);
      const [no, page] = this.sink.alloc();
      leaf.finish(page, PAGE_INDEX_LEAF);
      children.push(no);
      if (e < n) dividers.push(e);
      s = e + 1;
    }
    return this.buildInteriors(children, dividers, PAGE_INDEX_INTERIOR, cellSize, put);
  }

  /**
   * Builds the indexes, `sqlite_sequence` and page 1, and closes the file (not synced: the caller
   * makes it durable). Yields between indexes through `pause`.
   */
  async finish(pause: () => Promise<void>): Promise<void> {
    if (this.count === 0) throw new DirectWriteUnsupported("no rows");
    this.closeLeaf();
    const roots = new Map<string, number>();
    roots.set("kine", this.buildInteriors(this.leafPages, this.leafKeys, PAGE_TABLE_INTERIOR, varintLength, writeVarint));
    for (const row of kineSchemaRows()) {
      if (row.type !== "index") continue;
      if (!INDEX_COLUMNS[row.name]) throw new DirectWriteUnsupported(`an index not known here (${row.name})`);
      await pause();
      roots.set(row.name, this.buildIndex(row.name));
    }
    // sqlite_sequence: kine's AUTOINCREMENT counter at the largest id, as the inserts would leave it.
    const seqFill = new PageFill(this.pageSize, this.usable, 0, 8);
    const seqRecord = encodeRecord([Buffer.from("kine", "latin1"), this.lastId]);
    const seqAt = seqFill.place(varintLength(seqRecord.length) + 1 + seqRecord.length);
    seqRecord.copy(seqFill.buf, writeVarint(seqFill.buf, writeVarint(seqFill.buf, seqAt, seqRecord.length), 1));
    const [seqNo, seqPage] = this.sink.alloc();
    seqFill.finish(seqPage, PAGE_TABLE_LEAF);
    roots.set("sqlite_sequence", seqNo);
    this.sink.flush();
    const pageCount = this.sink.next - 1;

    // Page 1: the header, then sqlite_schema's one leaf.
    const p1 = new PageFill(this.pageSize, this.usable, 100, 8);
    kineSchemaRows().forEach((row, i) => {
      const root = roots.get(row.name);
      if (root === undefined) throw new DirectWriteUnsupported(`no b-tree for ${row.name}`);
      const record = encodeRecord([
        Buffer.from(row.type, "latin1"),
        Buffer.from(row.name, "latin1"),
        Buffer.from(row.tbl_name, "latin1"),
        root,
        Buffer.from(row.sql, "utf8"),
      ]);
      const cell = varintLength(record.length) + varintLength(i + 1) + record.length;
      if (record.length > this.maxLocal || !p1.fits(cell)) throw new DirectWriteUnsupported("kine's schema does not fit page 1");
      const at = p1.place(cell);
      record.copy(p1.buf, writeVarint(p1.buf, writeVarint(p1.buf, at, record.length), i + 1));
    });
    const page1 = Buffer.alloc(this.pageSize);
    p1.finish(page1, PAGE_TABLE_LEAF);
    SQLITE_MAGIC.copy(page1, 0);
    page1.writeUInt16BE(this.pageSize === 65536 ? 1 : this.pageSize, 16);
    page1[18] = 1; // legacy (rollback journal) file format
    page1[19] = 1;
    page1[20] = 0; // reserved bytes per page
    page1[21] = 64;
    page1[22] = 32;
    page1[23] = 32;
    page1.writeUInt32BE(1, 24); // file change counter
    page1.writeUInt32BE(pageCount, 28);
    page1.writeUInt32BE(1, 40); // schema cookie
    page1.writeUInt32BE(4, 44); // schema format
    page1.writeUInt32BE(1, 56); // UTF-8
    page1.writeUInt32BE(1, 92); // version-valid-for = the change counter: the page count above holds
    page1.writeUInt32BE(sqliteVersionNumber, 96);
    this.sink.writePage1(page1);
    this.close();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
  }
}
