// A child process for tests that must limit what the log's apply may write (apply-bulk.test.ts runs
// it under `ulimit -f`, which applies to a whole process and its threads). argv[2]: JSON of
// { dbPath, dir, segments, target, passphrase }, the segments' objects being files in `dir` named
// by their keys. Prints one line of JSON: the result, or the error's class, reason and message.
import { createReadStream } from "node:fs";
import path from "node:path";
import { applyLog } from "../continuous/apply";

const args = JSON.parse(process.argv[2]) as {
  dbPath: string;
  dir: string;
  segments: Parameters<typeof applyLog>[0]["segments"];
  target: number;
  passphrase: string;
};
try {
  const result = await applyLog({
    dbPath: args.dbPath,
    segments: args.segments,
    target: args.target,
    passphrase: args.passphrase,
    open: async (key) => createReadStream(path.join(args.dir, key)),
  });
  console.log(JSON.stringify({ ok: true, result }));
} catch (err) {
  const e = err as Error & { reason?: string; code?: string };
  console.log(JSON.stringify({ ok: false, name: e.name, reason: e.reason ?? null, code: e.code ?? null, message: e.message }));
}
process.exit(0);
