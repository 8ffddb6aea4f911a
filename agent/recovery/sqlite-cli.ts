import { spawn, execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Transform } from "node:stream";

/**
 * The `sqlite3` command-line shell as a recovery tool: `.dump` (and `.recover` where it works).
 *
 * `.dump` of a damaged database writes everything it could read and then, instead of `COMMIT;`, ends
 * with `ROLLBACK; -- due to errors`: imported as it is, that throws every row away. The import here
 * swaps that last statement for `COMMIT;`.
 *
 * `.recover` needs the sqlite_dbpage virtual table. Debian bookworm's sqlite3 3.40.1 (and so Raspberry
 * Pi OS's) is built without it and fails on every database, healthy or not; whether it works is
 * probed on a tiny healthy database before it is used.
 */

export interface SqliteCli {
  path: string;
  version: string;
}

/** The sqlite3 shell on PATH, or null when it is not installed. */
export function findSqliteCli(): Promise<SqliteCli | null> {
  return new Promise((resolve) => {
    execFile("sqlite3", ["--version"], { timeout: 5000 }, (err, stdout) => {
      if (err) return resolve(null);
      resolve({ path: "sqlite3", version: stdout.trim().split(" ")[0] ?? "unknown" });
    });
  });
}

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(args: string[], input?: string): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn("sqlite3", args, { stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d) => (stdout += String(d)));
    child.stderr!.on("data", (d) => (stderr += String(d)));
    child.on("error", (e) => resolve({ code: null, stdout, stderr: stderr + e.message }));
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    if (child.stdin) {
      // sqlite3 may exit before reading all of it (an error): that is in its exit code, not an EPIPE crash.
      child.stdin.on("error", () => {});
      child.stdin.end(input);
    }
  });
}

/** Whether `.recover` works with this sqlite3: null when it does, else why not (in words). */
export async function probeRecover(cli: SqliteCli): Promise<string | null> {
  const dir = mkdtempSync(path.join(tmpdir(), "lifeboat-recover-probe-"));
  try {
    const db = path.join(dir, "probe.db");
    const made = await run([db], "CREATE TABLE t(x); INSERT INTO t VALUES (42);");
    if (made.code !== 0) return `sqlite3 could not create a test database: ${made.stderr.trim()}`;
    const res = await run([db, ".recover"]);
    if (res.code === 0 && /INSERT INTO .*42/.test(res.stdout)) return null;
    const why = res.stderr.trim() || `exit code ${res.code}`;
    return `sqlite3 ${cli.version}'s .recover does not work on this host, even on a healthy database (${why}); Debian bookworm's build lacks the sqlite_dbpage table it needs.`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Holds back the tail of a stream and replaces a final "ROLLBACK; -- due to errors" with "COMMIT;". */
function fixDumpTail(onFixed: () => void): Transform {
  let tail = "";
  const KEEP = 64;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      const text = tail + chunk.toString("latin1");
      tail = text.slice(-KEEP);
      cb(null, Buffer.from(text.slice(0, -KEEP), "latin1"));
    },
    flush(cb) {
      const fixed = tail.replace(/ROLLBACK; -- due to errors\s*$/, "COMMIT;\n");
      if (fixed !== tail) onFixed();
      cb(null, Buffer.from(fixed, "latin1"));
    },
  });
}

export interface DumpResult {
  /** The dump ended in "ROLLBACK; -- due to errors" (it hit damage and skipped what it could not read). */
  hadErrors: boolean;
  dumpStderr: string;
  importStderr: string;
}

/**
 * `sqlite3 <src> <command> | sqlite3 <dest>`, streaming through `through` (no SQL file on disk). The
 * importer keeps going past a statement that fails (a duplicate, a damaged row). Never rejects: errors
 * are in the result (the caller counts what arrived in `dest`).
 */
function pipeShell(src: string, command: ".dump" | ".recover", dest: string, through?: Transform): Promise<{ producerStderr: string; importStderr: string }> {
  return new Promise((resolve) => {
    const producer = spawn("sqlite3", [src, command], { stdio: ["ignore", "pipe", "pipe"] });
    const imp = spawn("sqlite3", [dest], { stdio: ["pipe", "ignore", "pipe"] });
    let producerStderr = "";
    let importStderr = "";
    producer.stderr.on("data", (d) => (producerStderr += String(d)));
    imp.stderr.on("data", (d) => {
      if (importStderr.length < 4000) importStderr += String(d);
    });
    (through ? producer.stdout.pipe(through) : producer.stdout).pipe(imp.stdin);
    imp.stdin.on("error", () => {});
    let done = 0;
    const finish = () => {
      if (++done === 2) resolve({ producerStderr: producerStderr.trim(), importStderr: importStderr.trim() });
    };
    producer.on("close", finish);
    imp.on("close", () => {
      // An importer that died would leave the producer blocked on a full pipe.
      if (producer.exitCode === null) producer.kill("SIGKILL");
      finish();
    });
  });
}

/** `sqlite3 <src> .dump | sqlite3 <dest>` with the ROLLBACK fix. Never rejects. */
export async function dumpInto(src: string, dest: string): Promise<DumpResult> {
  let hadErrors = false;
  const r = await pipeShell(
    src,
    ".dump",
    dest,
    fixDumpTail(() => (hadErrors = true)),
  );
  return { hadErrors, dumpStderr: r.producerStderr, importStderr: r.importStderr };
}

/** `sqlite3 <src> .recover | sqlite3 <dest>` (only where probeRecover said it works). Never rejects. */
export async function recoverInto(src: string, dest: string): Promise<{ recoverStderr: string; importStderr: string }> {
  const r = await pipeShell(src, ".recover", dest);
  return { recoverStderr: r.producerStderr, importStderr: r.importStderr };
}
