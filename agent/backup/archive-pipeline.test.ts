import { afterAll, expect, it } from "vitest";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { FsBackupStore } from "../../lib/storage/fs-backup-store";
import { decryptStream } from "../archive";
import { uploadOneCopyArchives } from "./archive-pipeline";

/**
 * The database archive's zstd window is part of the backup's memory: the compressor's buffer fills
 * to it on any database larger than it, and a restore's decompressor needs as much. It was 4 MiB;
 * 2 MiB stores the same archive within 0.2 % (archive-pipeline.ts, docs/benchmarks.md). This reads
 * the window a real upload of a larger-than-window file declares in its zstd frame header (RFC 8878
 * §3.1.1.1.2), so a change of ZSTD_WINDOW_LOG, or a compressor that ignores it, shows here.
 */
const work = mkdtempSync(path.join(tmpdir(), "lifeboat-archive-window-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** The window size a zstd frame header declares (Window_Descriptor), or null for a single-segment frame. */
function declaredWindow(frame: Buffer): number | null {
  expect(frame.readUInt32LE(0)).toBe(0xfd2fb528);
  const descriptor = frame[4];
  if (descriptor & 0x20) return null; // Single_Segment_flag: the window is the content size
  const w = frame[5];
  const log = 10 + (w >> 3);
  return 2 ** log + (2 ** log / 8) * (w & 7);
}

it("the database archive declares a 2 MiB zstd window, for a database larger than that", async () => {
  // 6 MiB of text with repeats: streamed in 256 KiB reads, so zstd never knows the size up front.
  const line = (i: number) => `/registry/leases/kube-node-lease/node-${i % 977} holderIdentity=node-${i % 977} renewTime=${i}\n`;
  const parts: string[] = [];
  let size = 0;
  for (let i = 0; size < 6 << 20; i++) {
    parts.push(line(i));
    size += parts[parts.length - 1].length;
  }
  const snapshotPath = path.join(work, "state.db");
  writeFileSync(snapshotPath, parts.join(""));
  const store = new FsBackupStore(path.join(work, "store"));
  const keys = { logical: "lifeboat_2026-12-07_00-00-00_state.db.zst.gpg", secrets: "lifeboat_2026-12-07_00-00-00_secrets.tar.zst.gpg" };
  await uploadOneCopyArchives(store, { snapshotPath, rest: [], keys, passphrase: "window test passphrase" });

  const compressed: Buffer[] = [];
  for await (const c of await decryptStream(await store.get(keys.logical), "window test passphrase")) compressed.push(c as Buffer);
  const window = declaredWindow(Buffer.concat(compressed));
  expect(window).toBe(2 * 1024 * 1024);
});
