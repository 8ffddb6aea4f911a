import Database from "better-sqlite3";
import { rmSync } from "node:fs";
import path from "node:path";
import { fsyncPath } from "../../lib/storage/durable-file";
import { KINE_SCHEMA_SQL, writeAsScratch } from "../kine/schema";
import type { KineDoubts } from "./kine-soundness";
import { CELL_KINE, CELL_UNREADABLE, intAt, kineRowValues, newKineCell, scanKineCell } from "./kine-cell";
import { NO_PAGES, OverflowChains, decodePartialRecord, type Chain } from "./overflow-chain";
import { DirectWriteUnsupported, KineFileWriter, type DirectRowKeys } from "./kine-file-writer";
import { PageReader } from "./page-reader";
import { detectPageSize } from "./page-size";
import {
  PAGE_TABLE_INTERIOR,
  PAGE_TABLE_LEAF,
  decodeRecordBody,
  parseHeader,
  parsePageHeader,
  readRecordHeader,
  readTableLeafCell,
  readVarint,
  serialTypeSize,
  type PageHeader,
} from "./sqlite-format";

/**
 * Lifeboat's own salvage of a kine database. It reads the file page by page (never through SQLite,
 * which refuses damaged files), decodes every table-leaf cell whose record has kine's shape (9
 * columns: the NULL rowid alias, a text name, 5 integers, 2 blobs), follows overflow chains, and
 * keeps rows even when page 1 or the schema is gone. Then it drops what the live table did not hold:
 * stale copies on free pages or outside a complete b-tree, duplicates, and rows kine's compaction had
 * already deleted. Finally it writes the rows into a new database with kine's schema and indexes.
 *
 * A row whose value or old_value runs onto a damaged overflow page is kept with what could be read
 * (overflow-chain.ts says how far a chain can be trusted) and its doubted columns are reported: the
 * kine check (kine-soundness.ts) puts them back from kine's other copy, or drops the row. So the
 * result may hold such rows until that check has run on it.
 *
 * It exists because Debian bookworm's `sqlite3` (and Raspberry Pi OS's) ships a broken `.recover`,
 * and better-sqlite3 has no recover extension.
 *
 * Two passes keep memory bounded: the scan keeps only each row's key facts and location; the write
 * re-reads the kept rows' bytes from the file.
 */

export interface SalvageReport {
  fileSize: number;
  pageSize: number;
  /** Where the page size came from: the header, or detected from the pages when the header is gone. */
  pageSizeSource: "header" | "detected";
  pagesScanned: number;
  headerIntact: boolean;
  /**
   * kine's table b-tree: its root from the schema on page 1, or guessed when page 1 is gone; complete
   * when every interior page and leaf it points to is intact (then leaves outside it hold no live rows).
   */
  kineTree: { rootPage: number | null; rootSource: "schema" | "guessed" | "none"; complete: boolean; interiorPages: number };
  freelist: { source: "header" | "detected" | "header+detected" | "none"; pages: number };
  /** Table leaf pages holding kine-shaped rows: reached by the tree, orphaned (a damaged parent), or free. */
  leafPages: { total: number; reachable: number; orphan: number; free: number };
  /** kine-shaped cells found, counting every copy. */
  rowsFound: number;
  rowsKept: number;
  /** Rows kept although part of their value or old_value sat on a damaged page (see SalvageOutcome.doubts). */
  damagedRows: number;
  dropped: {
    /** Rows whose name or revisions sat on a damaged page (an overflow chain broken before them). */
    incomplete: number;
    /** Other copies of a row already kept (old copies left behind by page splits and moves). */
    duplicates: number;
    /** Rows only found on free pages: deleted rows whose bytes were never overwritten. */
    onFreePages: number;
    /** Rows only found on leaves a complete b-tree does not reach (stale pages). */
    outsideTree: number;
    /** Rows kine's compaction had deleted (superseded versions and tombstones at or below the compact revision). */
    compacted: number;
    /** Rows that would break kine's unique (name, prev_revision) index. */
    conflicts: number;
  };
  revisions: { min: number; max: number } | null;
  compactRevision: number | null;
  /** Milliseconds reading the damaged file, and writing the new database (until it is durable). */
  scanMillis: number;
  writeMillis: number;
}

export type SalvageProgress = (phase: "scan" | "write", done: number, total: number) => void;

/**
 * What a salvage hands the kine check besides its report: the columns it could not read whole, in
 * its own result (`doubts`) and in the file's live tree (`fileDoubts`, for the rows `.dump` and
 * `.recover` read from that file).
 */
export interface SalvageOutcome extends SalvageReport {
  doubts: KineDoubts;
  fileDoubts: KineDoubts;
  /**
   * How the new file was built: its pages written directly (kine-file-writer.ts), or through SQLite's
   * INSERTs and CREATE INDEX (what the direct writer cannot take, and why), or not at all (a scan).
   */
  written: { by: "pages" | "sqlite"; why?: string } | null;
}

interface Candidate {
  id: number;
  name: string;
  deleted: boolean;
  prevRevision: number;
  page: number;
  cell: number;
  reachable: boolean;
  /** Overflow pages the row's chain runs through (as far as they can be trusted). */
  overflow: readonly number[];
  /** The payload's size, and how many of its bytes came from intact pages (less: a damaged row). */
  payloadSize: number;
  trusted: number;
}

/** The chain of a payload that does not overflow (no object per row for the common case). */
const WHOLE: Chain = Object.freeze({ pages: NO_PAGES, trusted: 0 });

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** kine's CREATE TABLE and its CREATE INDEX statements (from the one copy of kine's schema). */
function kineSchemaStatements(): string[] {
  return KINE_SCHEMA_SQL.split(";")
    .map((s) => s.trim())
    .filter(Boolean);
}

/**
 * The index keys of a whole kine record (scanKineCell's types): name as a binary string, deleted and
 * prev_revision (NULL as null; beyond 2^53 they come out unsafe and the writer refuses them). One
 * reused object.
 */
const rowKeys: DirectRowKeys = { name: "", deleted: null, prev: null };
function kineKeys(payload: Buffer, types: number[], bodyStart: number): DirectRowKeys {
  const nameEnd = bodyStart + serialTypeSize(types[1]);
  const deletedAt = nameEnd + serialTypeSize(types[2]);
  const prevAt = deletedAt + serialTypeSize(types[3]) + serialTypeSize(types[4]);
  rowKeys.name = payload.toString("latin1", bodyStart, nameEnd);
  rowKeys.deleted = types[3] === 0 ? null : intAt(payload, deletedAt, types[3]);
  rowKeys.prev = types[5] === 0 ? null : intAt(payload, prevAt, types[5]);
  return rowKeys;
}

/**
 * Salvages the kine rows of `file` (never modifying it) into a new kine database at `outFile`
 * (replaced if present; with null, only scans). Works on files SQLite refuses to open: a zeroed
 * header or page 1, broken interior pages, truncation. Yields to the event loop as it goes. Throws
 * when `file` cannot be read or `outFile` cannot be written.
 */
export async function salvageKineDatabase(
  file: string,
  outFile: string | null,
  opts: {
    onProgress?: SalvageProgress;
    /** Tests: the page reader's cache (default 64 MiB). */
    readerCacheBytes?: number;
    /** Tests: false builds the file through SQLite's INSERTs and CREATE INDEX instead of writing its pages. */
    direct?: boolean;
  } = {},
): Promise<SalvageOutcome> {
  const scanStarted = Date.now();
  const reader = PageReader.open(file, { cacheBytes: opts.readerCacheBytes });
  try {
    const first = reader.bytes(0, Math.min(100, reader.fileSize));
    const header = first ? parseHeader(Buffer.from(first)) : null;
    const { size: pageSize, source: pageSizeSource } = detectPageSize(reader, header);
    reader.setPageSize(pageSize);
    const usable = pageSize - (header && header.pageSize === pageSize ? header.reservedBytes : 0);
    const encoding = header?.textEncoding ?? 1;
    const pageCount = reader.pageCount;
    const chains = new OverflowChains(reader, pageSize, usable, pageCount);

    const headerOf = (n: number, page: Buffer): PageHeader | null => parsePageHeader(page, n === 1 ? 100 : 0, usable);

    /**
     * Walks the table b-tree rooted at `root`. `broken` counts child pointers that lead outside the
     * file, to a page that is not a table page, or to rowids outside the range the parent promises: a
     * tree with none is complete, so a leaf it does not reach is not part of the table.
     */
    /** Rowid range of every table leaf the scan parsed (null when a cell was unreadable): walks need not read leaves again. */
    const leafState = new Uint8Array(pageCount + 1); // 0: not parsed, 1: its range is below, 2: a cell was unreadable
    const leafLo = new Float64Array(pageCount + 1);
    const leafHi = new Float64Array(pageCount + 1);
    /** Children and keys of every table interior page the scan parsed (one re-read of a page costs a 4 MiB block). */
    const interiorCells = new Map<number, { cells: { child: number; key: number | null }[]; right: number }>();
    const interiorOf = (n: number, page: Buffer, hdr: PageHeader) => {
      const cells: { child: number; key: number | null }[] = [];
      for (let i = 0; i < hdr.cellCount; i++) {
        const ptr = page.readUInt16BE(hdr.cellPointers + i * 2);
        const key = ptr + 4 < usable ? readVarint(page, ptr + 4, usable) : null;
        cells.push({ child: ptr + 4 <= usable ? page.readUInt32BE(ptr) : 0, key: key ? key[0] : null });
      }
      const info = { cells, right: hdr.rightChild };
      interiorCells.set(n, info);
      return info;
    };
    const walkTable = (root: number): { leaves: Set<number>; interiors: Set<number>; broken: number } => {
      const leaves = new Set<number>();
      const interiors = new Set<number>();
      let broken = 0;
      // [page, rowids above lo, rowids at most hi]
      const stack: [number, number, number][] = [[root, -Infinity, Infinity]];
      while (stack.length) {
        const [n, lo, hi] = stack.pop()!;
        if (n < 1 || n > pageCount || leaves.has(n) || interiors.has(n)) {
          broken++;
          continue;
        }
        const known = leafState[n];
        if (known !== 0) {
          if (known === 1 && (leafLo[n] === Infinity || (leafLo[n] > lo && leafHi[n] <= hi))) leaves.add(n);
          else broken++;
          continue;
        }
        let interior = interiorCells.get(n);
        if (!interior) {
          const page = reader.page(n)!;
          const hdr = headerOf(n, page);
          if (hdr?.type === PAGE_TABLE_LEAF) {
            let inRange = true;
            for (let i = 0; i < hdr.cellCount && inRange; i++) {
              const cell = readTableLeafCell(page, hdr, i, usable);
              if (!cell || cell.rowid <= lo || cell.rowid > hi) inRange = false;
            }
            if (inRange) leaves.add(n);
            else broken++;
            continue;
          }
          if (hdr?.type !== PAGE_TABLE_INTERIOR) {
            broken++;
            continue;
          }
          interior = interiorOf(n, page, hdr);
        }
        interiors.add(n);
        let prev = lo;
        for (const c of interior.cells) {
          if (c.key === null || c.key <= prev || c.key > hi) {
            broken++;
            continue;
          }
          stack.push([c.child, prev, c.key]);
          prev = c.key;
        }
        stack.push([interior.right, prev, hi]);
      }
      return { leaves, interiors, broken };
    };

    // 1. The schema (sqlite_schema is the table b-tree on page 1) names kine's root page.
    let kineRootPage: number | null = null;
    let rootSource: SalvageReport["kineTree"]["rootSource"] = "none";
    for (const n of walkTable(1).leaves) {
      let page = reader.page(n)!;
      const hdr = headerOf(n, page)!;
      for (let i = 0; i < hdr.cellCount; i++) {
        const cell = readTableLeafCell(page, hdr, i, usable);
        if (!cell) continue;
        const chain = chains.read(cell.overflowPage, cell.local.length, cell.payloadSize);
        if (chain.trusted < cell.payloadSize) continue;
        let payload: Buffer = Buffer.from(cell.local);
        if (chain.pages.length) {
          // Following the chain may have recycled the block this page was in: read the cell again.
          page = reader.page(n)!;
          payload = chains.assemble(readTableLeafCell(page, hdr, i, usable)!.local, cell.payloadSize, chain.pages);
          page = reader.page(n)!;
        }
        const rh = readRecordHeader(payload);
        if (!rh || rh.types.length !== 5 || rh.bodyStart + rh.bodySize !== payload.length) continue;
        const [type, name, , rootpage] = decodeRecordBody(payload, rh.types, rh.bodyStart, encoding);
        if (type === "table" && name === "kine" && typeof rootpage === "number" && rootpage > 1 && rootpage <= pageCount) {
          kineRootPage = rootpage;
          rootSource = "schema";
        }
      }
    }

    // 2. Scan every page: note each kine-shaped cell of every table leaf (its key facts and where it is),
    //    and pages laid out like freelist trunks.
    const maxTrunkLeaves = usable / 4 - 2;
    const cell = newKineCell();
    const trunkCandidates: { page: number; leaves: number[] }[] = [];
    const candidates: Candidate[] = [];
    /** Table leaves holding kine-shaped cells (1), by page number. */
    const kineLeaves = new Uint8Array(pageCount + 1);
    const interiorPages: number[] = [];
    /** How many kept-so-far rows' chains run through each page (indexed by page number). */
    const overflowClaims = new Uint32Array(pageCount + 1);
    let incomplete = 0;
    for (let n = 1; n <= pageCount; n++) {
      if (n % 2048 === 0) {
        opts.onProgress?.("scan", n * pageSize, reader.fileSize);
        await yieldToEventLoop();
      }
      let page = reader.page(n)!;
      const hdr = headerOf(n, page);
      if (!hdr) {
        // Maybe a freelist trunk: next trunk, a count, then that many page numbers.
        const next = page.readUInt32BE(0);
        const count = page.readUInt32BE(4);
        if (n > 1 && next <= pageCount && next !== n && count <= maxTrunkLeaves && (next !== 0 || count !== 0)) {
          const leaves: number[] = [];
          for (let i = 0; i < count; i++) {
            const leaf = page.readUInt32BE(8 + 4 * i);
            if (leaf < 2 || leaf > pageCount || leaf === n) break;
            leaves.push(leaf);
          }
          if (leaves.length === count) trunkCandidates.push({ page: n, leaves });
        }
        continue;
      }
      if (hdr.type === PAGE_TABLE_INTERIOR) {
        interiorPages.push(n);
        interiorOf(n, page, hdr);
      }
      if (hdr.type !== PAGE_TABLE_LEAF) continue;
      let rangeLo = Infinity;
      let rangeHi = -Infinity;
      let readable = true;
      for (let i = 0; i < hdr.cellCount; i++) {
        const verdict = scanKineCell(page, hdr.cellPointers, hdr.cellCount, i, usable, cell);
        if (verdict === CELL_UNREADABLE) {
          readable = false;
          continue;
        }
        if (cell.rowid < rangeLo) rangeLo = cell.rowid;
        if (cell.rowid > rangeHi) rangeHi = cell.rowid;
        // The record header sits at the start of the payload: the shape was checked before anything else.
        if (verdict !== CELL_KINE) continue;
        kineLeaves[n] = 1;
        // name, created, deleted, create_revision, prev_revision, lease come first in the body: usually
        // all local. They must be read whole; value and old_value the kine check can put back.
        const { payloadSize, types, needed } = cell;
        let name: string | null = null;
        let deleted = false;
        let prevRevision = 0;
        if (needed <= cell.localSize) {
          let off = cell.localStart + cell.bodyStart;
          const nameEnd = off + serialTypeSize(types[1]);
          name = encoding === 1 ? page.toString("utf8", off, nameEnd) : (decodeRecordBody(page.subarray(off, nameEnd), [types[1]], 0, encoding)[0] as string);
          off = nameEnd + serialTypeSize(types[2]);
          deleted = intAt(page, off, types[3]) !== 0;
          off += serialTypeSize(types[3]) + serialTypeSize(types[4]);
          prevRevision = intAt(page, off, types[5]);
        }
        const rowid = cell.rowid;
        const chain = cell.localSize === payloadSize ? WHOLE : chains.read(cell.overflowPage, cell.localSize, payloadSize);
        const trusted = chain === WHOLE ? payloadSize : chain.trusted;
        if (trusted < needed) {
          incomplete++;
          continue;
        }
        if (chain.pages.length) {
          // Following the chain may have recycled the block this page was in: fetch it again.
          page = reader.page(n)!;
          if (name === null) {
            const prefix = chains.assemble(readTableLeafCell(page, hdr, i, usable)!.local, payloadSize, chain.pages);
            const rh = readRecordHeader(prefix)!;
            const v = decodeRecordBody(prefix, rh.types, rh.bodyStart, encoding, 6);
            page = reader.page(n)!;
            name = v[1] as string;
            deleted = Number(v[3]) !== 0;
            prevRevision = Number(v[5]);
          }
        }
        if (name === null) continue;
        for (const p of chain.pages) overflowClaims[p]++;
        candidates.push({
          id: rowid,
          name,
          deleted,
          prevRevision,
          page: n,
          cell: i,
          reachable: false,
          overflow: chain.pages,
          payloadSize,
          trusted,
        });
      }
      leafState[n] = readable ? 1 : 2;
      leafLo[n] = rangeLo;
      leafHi[n] = rangeHi;
    }
    opts.onProgress?.("scan", reader.fileSize, reader.fileSize);

    // 3. Free pages: the header's freelist, or pages recognised by the freelist-trunk layout when the
    //    header or the chain is damaged. Free pages keep their old bytes, including deleted rows.
    const free = new Set<number>();
    let freeSource: SalvageReport["freelist"]["source"] = "none";
    if (header) {
      let trunk = header.firstFreelistTrunk;
      const seen = new Set<number>();
      let complete = true;
      while (trunk) {
        const page = trunk <= pageCount && !seen.has(trunk) ? reader.page(trunk) : null;
        if (!page) {
          complete = false;
          break;
        }
        seen.add(trunk);
        free.add(trunk);
        const count = page.readUInt32BE(4);
        if (count > usable / 4 - 2) {
          complete = false;
          break;
        }
        for (let i = 0; i < count; i++) free.add(page.readUInt32BE(8 + 4 * i));
        trunk = page.readUInt32BE(0);
      }
      freeSource = complete ? "header" : "header+detected";
    }
    if (!header || freeSource === "header+detected") {
      let found = 0;
      for (const t of trunkCandidates) {
        // An overflow page of a row can look like a trunk; the rows' chains say which pages those are.
        if (overflowClaims[t.page] > 0) continue;
        found++;
        free.add(t.page);
        for (const leaf of t.leaves) free.add(leaf);
      }
      if (!header) freeSource = found ? "detected" : "none";
    }

    // 4. kine's b-tree: from the schema's root, or, when page 1 is gone, the interior page that no other
    //    live interior page points to and whose complete tree reaches the most kine leaves.
    let guessedTree: ReturnType<typeof walkTable> | null = null;
    if (!kineRootPage) {
      const children = new Set<number>();
      for (const n of interiorPages) {
        if (free.has(n)) continue;
        const info = interiorCells.get(n)!;
        for (const c of info.cells) children.add(c.child);
        children.add(info.right);
      }
      let best: { root: number; leaves: number; tree: ReturnType<typeof walkTable> | null } = { root: 0, leaves: 0, tree: null };
      for (const n of interiorPages) {
        if (free.has(n) || children.has(n)) continue;
        const t = walkTable(n);
        let leaves = 0;
        for (const l of t.leaves) leaves += kineLeaves[l];
        if (t.broken === 0 && leaves > best.leaves) best = { root: n, leaves, tree: t };
      }
      if (best.root) {
        kineRootPage = best.root;
        rootSource = "guessed";
        guessedTree = best.tree;
      }
    }
    const tree = guessedTree ?? (kineRootPage ? walkTable(kineRootPage) : { leaves: new Set<number>(), interiors: new Set<number>(), broken: 1 });
    const reachable = tree.leaves;
    // A complete tree is the table: a leaf it does not reach holds no live row (it is free or stale).
    const treeComplete = tree.broken === 0 && reachable.size > 0;
    for (const c of candidates) c.reachable = reachable.has(c.page);
    // A page the live tree reaches is not free, whatever an old trunk page says.
    for (const n of reachable) free.delete(n);

    // 5. One row per id: prefer copies not on free pages, then whole copies (kine never changes a row,
    //    so every whole copy of an id holds the same bytes), then copies the live tree reaches, then
    //    copies whose overflow pages no other row claims (a stale copy's chain may run through reused pages).
    const score = (c: Candidate) =>
      (free.has(c.page) ? 0 : 16) + (c.trusted === c.payloadSize ? 8 : 0) + (c.reachable ? 4 : 0) + (c.overflow.every((p) => overflowClaims[p] === 1) ? 1 : 0);
    const byId = new Map<number, { best: Candidate; score: number; onlyFree: boolean; anyReachable: boolean }>();
    let duplicates = 0;
    for (const c of candidates) {
      const s = score(c);
      const prev = byId.get(c.id);
      if (!prev) {
        byId.set(c.id, { best: c, score: s, onlyFree: free.has(c.page), anyReachable: c.reachable });
        continue;
      }
      duplicates++;
      prev.onlyFree &&= free.has(c.page);
      prev.anyReachable ||= c.reachable;
      // compact_rev_key is the one row kine updates in place: the highest compact revision is the newest copy.
      const better =
        c.name === "compact_rev_key" && prev.best.name === "compact_rev_key" && s >= 16 && prev.score >= 16
          ? c.prevRevision > prev.best.prevRevision
          : s > prev.score;
      if (better) Object.assign(prev, { best: c, score: s });
    }
    let onFreePages = 0;
    let outsideTree = 0;
    const kept: Candidate[] = [];
    for (const e of byId.values()) {
      if (e.anyReachable) kept.push(e.best);
      else if (e.onlyFree) onFreePages++;
      else if (treeComplete) outsideTree++;
      else kept.push(e.best);
    }

    // 6. Rows kine's compaction had deleted cannot be live. Compaction up to revision C deletes every
    //    version superseded by a row at or below C and every tombstone at or below C, so per key at most
    //    one row at or below C survives: the newest, unless it is a tombstone. Older ones come back only
    //    from stale pages, and kine would never delete them again (it compacts only above C).
    const compactRow = kept.find((c) => c.name === "compact_rev_key");
    const compactRevision = compactRow ? compactRow.prevRevision : null;
    let compacted = 0;
    let live = kept;
    if (compactRevision && compactRevision > 0) {
      const newestAtOrBelow = new Map<string, number>();
      for (const c of kept) {
        if (c.name === "compact_rev_key" || c.id > compactRevision) continue;
        if ((newestAtOrBelow.get(c.name) ?? -1) < c.id) newestAtOrBelow.set(c.name, c.id);
      }
      live = kept.filter((c) => {
        const dead = c.name !== "compact_rev_key" && c.id <= compactRevision && (newestAtOrBelow.get(c.name) !== c.id || c.deleted);
        if (dead) compacted++;
        return !dead;
      });
    }

    // 7. kine's unique (name, prev_revision) index must hold; keep the better-placed row of a clash.
    //    Keyed by name, then prev_revision (no string built per row).
    const byNamePrev = new Map<string, Map<number, Candidate>>();
    let conflicts = 0;
    /** The losers of clashes (few): the rows are the others, in page order, which is nearly id order. */
    const lost = new Set<Candidate>();
    for (const c of live) {
      let prevs = byNamePrev.get(c.name);
      if (!prevs) byNamePrev.set(c.name, (prevs = new Map()));
      const other = prevs.get(c.prevRevision);
      if (!other) {
        prevs.set(c.prevRevision, c);
        continue;
      }
      conflicts++;
      const cs = score(c);
      const os = score(other);
      if (cs > os || (cs === os && c.id > other.id)) {
        prevs.set(c.prevRevision, c);
        lost.add(other);
      } else lost.add(c);
    }
    const rows = lost.size ? live.filter((c) => !lost.has(c)) : live;
    rows.sort((a, b) => a.id - b.id);

    /** The columns of copy `c` that are not (wholly) on intact pages: value and old_value only (the rest was checked in the scan). */
    const doubtOf = (c: Candidate) => {
      const page = reader.page(c.page)!;
      const rh = readRecordHeader(readTableLeafCell(page, headerOf(c.page, page)!, c.cell, usable)!.local)!;
      const d: { value?: { length: number; knownBytes: number }; oldValue?: { length: number; knownBytes: number } } = {};
      let off = rh.bodyStart;
      for (let k = 0; k < 9; k++) {
        const size = serialTypeSize(rh.types[k]);
        // A NULL (or empty) column has no bytes to lose.
        if (k >= 7 && size > 0 && off + size > c.trusted) d[k === 7 ? "value" : "oldValue"] = { length: size, knownBytes: Math.max(0, c.trusted - off) };
        off += size;
      }
      return d;
    };
    // What .dump and .recover read comes from the file's own copies of the rows: any damaged one that
    // is not on a free page makes that row's columns doubtful in their results too.
    const fileDoubts: KineDoubts = new Map();
    const fileTrust = new Map<number, number>();
    for (const c of candidates)
      if (c.trusted < c.payloadSize && !free.has(c.page) && c.trusted < (fileTrust.get(c.id) ?? Infinity)) {
        fileTrust.set(c.id, c.trusted);
        fileDoubts.set(c.id, doubtOf(c));
      }
    const doubts: KineDoubts = new Map();
    const scanMillis = Date.now() - scanStarted;

    // 8. Write the rows into a new database with kine's schema, at the original page size (kine's
    //    WAL writes whole pages: a bigger page would cost the restored cluster more I/O forever).
    const writeStarted = Date.now();
    let written: SalvageOutcome["written"] = null;
    // A scan alone (no output file) tells the kine check which rows of the file sit on damaged pages.
    if (outFile !== null) {
      const clear = () => {
        for (const f of [outFile, `${outFile}-journal`, `${outFile}-wal`, `${outFile}-shm`]) rmSync(f, { force: true });
      };
      clear();
      // Overflowing rows are put together in one reused buffer: SQLite and the writer copy what they are given.
      let scratch = Buffer.allocUnsafe(1 << 16);
      const cellFacts = newKineCell();
      /** A row that overflows or is damaged: its payload put together from its pages, then decoded. */
      const insertAssembled = (insert: Database.Statement, c: Candidate, page: Buffer, hdr: PageHeader) => {
        const cell = readTableLeafCell(page, hdr, c.cell, usable)!;
        if (cell.payloadSize > scratch.length) scratch = Buffer.allocUnsafe(cell.payloadSize);
        const payload = chains.assemble(cell.local, cell.payloadSize, c.overflow, scratch);
        const rh = readRecordHeader(payload)!;
        let values: unknown[];
        if (c.trusted === c.payloadSize) values = decodeRecordBody(payload, rh.types, rh.bodyStart, encoding);
        else {
          // What is known of a damaged value or old_value goes in; the kine check completes or drops the row.
          values = decodePartialRecord(payload.subarray(0, c.trusted), rh.types, rh.bodyStart, encoding).map((p) => (p.whole ? p.value : p.bytes));
          doubts.set(c.id, doubtOf(c));
        }
        values[0] = c.id;
        insert.run(values);
      };
      const INSERT = "INSERT INTO kine (id, name, created, deleted, create_revision, prev_revision, lease, value, old_value) VALUES ";

      // The file written page by page (kine-file-writer.ts); rows it cannot take whole go in through SQLite after.
      let direct = opts.direct !== false && encoding === 1 && usable === pageSize && rows.length > 0;
      written = direct
        ? { by: "pages" }
        : {
            by: "sqlite",
            why: opts.direct === false ? "asked for" : encoding !== 1 ? "a UTF-16 file" : usable !== pageSize ? "reserved bytes on each page" : "no rows",
          };
      if (direct) {
        let writer: KineFileWriter | null = null;
        try {
          writer = new KineFileWriter(outFile, pageSize);
          const later: Candidate[] = [];
          for (let i = 0; i < rows.length; i++) {
            const c = rows[i];
            const page = reader.page(c.page)!;
            const hdr = headerOf(c.page, page)!;
            if (
              c.trusted === c.payloadSize &&
              scanKineCell(page, hdr.cellPointers, hdr.cellCount, c.cell, usable, cellFacts) === CELL_KINE &&
              cellFacts.rowid === c.id
            ) {
              let payload: Buffer;
              if (c.overflow.length === 0) payload = page.subarray(cellFacts.localStart, cellFacts.localStart + cellFacts.payloadSize);
              else {
                if (cellFacts.payloadSize > scratch.length) scratch = Buffer.allocUnsafe(cellFacts.payloadSize);
                const local = page.subarray(cellFacts.localStart, cellFacts.localStart + cellFacts.localSize);
                payload = chains.assemble(local, cellFacts.payloadSize, c.overflow, scratch);
              }
              if (payload.length !== cellFacts.payloadSize) throw new DirectWriteUnsupported("a short payload");
              writer.addRow(c.id, payload, kineKeys(payload, cellFacts.types, cellFacts.bodyStart));
            } else later.push(c);
            if (i % 5000 === 4999) {
              opts.onProgress?.("write", i + 1, rows.length);
              await yieldToEventLoop();
            }
          }
          await writer.finish(yieldToEventLoop);
          if (later.length) {
            const db = new Database(outFile);
            try {
              writeAsScratch(db);
              const insert = db.prepare(`${INSERT}(?, ?, ?, ?, ?, ?, ?, ?, ?)`);
              db.exec("BEGIN");
              for (const c of later) {
                const page = reader.page(c.page)!;
                insertAssembled(insert, c, page, headerOf(c.page, page)!);
              }
              db.exec("COMMIT");
              db.pragma("journal_mode = DELETE");
            } finally {
              db.close();
            }
          }
        } catch (e) {
          writer?.close();
          if (!(e instanceof DirectWriteUnsupported)) throw e;
          written = { by: "sqlite", why: e.message };
          doubts.clear();
          clear();
          direct = false;
        }
      }
      if (!direct) {
        const db = new Database(outFile);
        try {
          db.pragma(`page_size = ${pageSize}`);
          // Nothing else has the new file open and a crash leaves a file to build again: no journal, no
          // syncs while building; it is made durable once, whole, below.
          writeAsScratch(db);
          // Room for the whole new file (up to 256 MiB): the table stays in memory for the index builds.
          db.pragma(`cache_size = -${Math.ceil(Math.min(256 * 1024 * 1024, reader.fileSize * 1.1) / 1024)}`);
          db.pragma("locking_mode = EXCLUSIVE");
          // The table first, kine's six indexes after the rows: each CREATE INDEX scans the table in the
          // cache and sorts once, 0.2–0.3 s of CPU less on the bench's 200 MB than filling the indexes
          // row by row (docs/benchmarks.md).
          const [createTable, ...createIndexes] = kineSchemaStatements();
          db.exec(createTable);
          const insert = db.prepare(`${INSERT}(?, ?, ?, ?, ?, ?, ?, ?, ?)`);
          // Whole rows go in BATCH at a time, one statement: a tenth less CPU per row than one each
          // (fewer calls into SQLite, one AUTOINCREMENT update per statement). Their values are views
          // into the reader's cached blocks, so a batch never spans more blocks than the reader keeps.
          const BATCH = Math.min(16, reader.cachedBlocks);
          const insertBatch = db.prepare(INSERT + Array(BATCH).fill("(?, ?, ?, ?, ?, ?, ?, ?, ?)").join(", "));
          const batch: unknown[] = new Array(BATCH * 9);
          let batched = 0;
          const flush = () => {
            if (batched === BATCH) insertBatch.run(batch);
            else for (let k = 0; k < batched; k++) insert.run(batch.slice(k * 9, k * 9 + 9));
            batched = 0;
          };
          db.exec("BEGIN");
          for (let i = 0; i < rows.length; i++) {
            const c = rows[i];
            const page = reader.page(c.page)!;
            const hdr = headerOf(c.page, page)!;
            if (
              c.overflow.length === 0 &&
              c.trusted === c.payloadSize &&
              scanKineCell(page, hdr.cellPointers, hdr.cellCount, c.cell, usable, cellFacts) === CELL_KINE
            ) {
              // Most rows: whole on their leaf, read where they lie (the scan's name, no copies).
              const v = kineRowValues(page, cellFacts, c.id, c.name, encoding);
              for (let k = 0; k < 9; k++) batch[batched * 9 + k] = v[k];
              if (++batched === BATCH) flush();
            } else {
              // In id order, and before its overflow pages are read (they may take a batched row's block).
              flush();
              insertAssembled(insert, c, page, hdr);
            }
            if (i % 5000 === 4999) {
              opts.onProgress?.("write", i + 1, rows.length);
              await yieldToEventLoop();
            }
          }
          flush();
          for (const stmt of createIndexes) {
            db.exec(stmt);
            await yieldToEventLoop();
          }
          db.exec("COMMIT");
          db.pragma("journal_mode = DELETE");
        } finally {
          db.close();
        }
      }
      fsyncPath(outFile);
      fsyncPath(path.dirname(outFile));
      opts.onProgress?.("write", rows.length, rows.length);
    }

    let leafFree = 0;
    let leafReachable = 0;
    let leafTotal = 0;
    for (let n = 1; n <= pageCount; n++) {
      if (!kineLeaves[n]) continue;
      leafTotal++;
      if (reachable.has(n)) leafReachable++;
      else if (free.has(n)) leafFree++;
    }
    return {
      fileSize: reader.fileSize,
      pageSize,
      pageSizeSource,
      pagesScanned: pageCount,
      headerIntact: header !== null,
      kineTree: { rootPage: kineRootPage, rootSource, complete: treeComplete, interiorPages: tree.interiors.size },
      freelist: { source: freeSource, pages: free.size },
      leafPages: { total: leafTotal, reachable: leafReachable, orphan: leafTotal - leafReachable - leafFree, free: leafFree },
      rowsFound: candidates.length + incomplete,
      rowsKept: rows.length,
      damagedRows: rows.reduce((k, c) => k + (c.trusted < c.payloadSize ? 1 : 0), 0),
      dropped: { incomplete, duplicates, onFreePages, outsideTree, compacted, conflicts },
      revisions: rows.length ? { min: rows[0].id, max: rows[rows.length - 1].id } : null,
      compactRevision,
      scanMillis,
      writeMillis: Date.now() - writeStarted,
      doubts,
      fileDoubts,
      written,
    };
  } finally {
    reader.close();
  }
}
