import { createReadStream, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { parseSegmentKey, type SegmentName } from "../../lib/contracts/continuous";
import { applyLog } from "../continuous/apply";

/**
 * `node --import tsx agent/testing/apply-log-traced.ts <db> <segment dir> <target> <durable|drill> <passphrase file>`:
 * applies the segment files in a directory to a database with applyLog, alone in its process, so
 * agent/continuous/apply-durability.test.ts can trace its writes and fsyncs with strace.
 */
const [dbPath, segDir, target, mode, passFile] = process.argv.slice(2);
const segments = readdirSync(segDir)
  .map((f) => parseSegmentKey(f))
  .filter((s): s is SegmentName => s !== null);
const applied = await applyLog({
  dbPath,
  segments,
  target: Number(target),
  open: async (key) => createReadStream(path.join(segDir, key)),
  passphrase: readFileSync(passFile, "utf8").trim(),
  durable: mode === "durable",
});
console.log(JSON.stringify(applied));
