import type { PageReader } from "./page-reader";
import { PAGE_TABLE_INTERIOR, PAGE_TABLE_LEAF, parsePageHeader, readTableLeafCell, readVarint, type DbHeader } from "./sqlite-format";

/**
 * The page size of a database whose header may be gone: the header's when its pages look right at
 * that size, else the size at which the most b-tree pages look right.
 */

const PAGE_SIZES = [512, 1024, 2048, 4096, 8192, 16384, 32768, 65536];

/**
 * Counts pages whose cells end exactly at the end of the page: true for many b-tree pages, at the
 * real page size only. Looks at the first 16 MiB, which the block cache then already holds.
 */
function pageSizeScore(reader: PageReader, size: number): number {
  const pages = Math.floor(Math.min(reader.fileSize, 16 * 1024 * 1024) / size);
  let score = 0;
  for (let n = 2; n <= pages; n++) {
    const page = reader.bytes((n - 1) * size, size);
    if (!page) break;
    const hdr = parsePageHeader(page, 0, size);
    if (!hdr || hdr.cellCount === 0 || (hdr.type !== PAGE_TABLE_LEAF && hdr.type !== PAGE_TABLE_INTERIOR)) continue;
    let maxEnd = 0;
    let ok = true;
    for (let i = 0; i < hdr.cellCount && ok; i++) {
      if (hdr.type === PAGE_TABLE_LEAF) {
        const cell = readTableLeafCell(page, hdr, i, size);
        if (!cell) ok = false;
        else maxEnd = Math.max(maxEnd, cell.local.byteOffset - page.byteOffset + cell.local.length + (cell.overflowPage ? 4 : 0));
      } else {
        const ptr = page.readUInt16BE(hdr.cellPointers + i * 2);
        const key = ptr + 4 < size ? readVarint(page, ptr + 4, size) : null;
        if (!key) ok = false;
        else maxEnd = Math.max(maxEnd, ptr + 4 + key[1]);
      }
    }
    if (ok && maxEnd === size) score++;
  }
  return score;
}

/** The page size to read `reader` with, and where it came from. Never throws. */
export function detectPageSize(reader: PageReader, header: DbHeader | null): { size: number; source: "header" | "detected" } {
  if (header && pageSizeScore(reader, header.pageSize) > 0) return { size: header.pageSize, source: "header" };
  let best = { size: header?.pageSize ?? 4096, score: 0 };
  for (const size of PAGE_SIZES) {
    if (size > reader.fileSize) break;
    const score = pageSizeScore(reader, size);
    if (score > best.score) best = { size, score };
  }
  return { size: best.size, source: header && best.size === header.pageSize ? "header" : "detected" };
}
