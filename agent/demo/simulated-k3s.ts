/**
 * The simulated k3s of the demo (`npm start`), which the restore tests and browser tests drive too:
 * `start`, `stop` and `status` commands to put in LIFEBOAT_K3S_START_CMD / _STOP_CMD / _STATUS_CMD,
 * behaving like `systemctl … k3s` for the parts a restore depends on. The demo agent's restore wizard
 * really stops it, swaps its database and starts it again.
 *
 *   start   Like k3s: refuses to start when the token in <server>/token cannot decrypt the bootstrap
 *           data in the datastore ("bootstrap data already found and encrypted with different token"),
 *           then runs the kine writer (agent/demo/kine-writer.ts: WAL mode, kine's writes and
 *           compaction) as a detached process on <server>/db/state.db, and returns once it is ready.
 *           Starting a running service does nothing.
 *   stop    SIGTERM to the writer, waits until it has exited (SIGKILL after 10 s). Idempotent.
 *   status  Prints "active" (exit 0) or "inactive" (exit 3), like `systemctl is-active`.
 *
 * Usage: node --import tsx agent/demo/simulated-k3s.ts <start|stop|status> --server-dir <dir>
 *        [--interval-ms 100] [--compact-every-ms 2000]
 * The pid file and the writer's log are <server-dir>/../simulated-k3s.pid and simulated-k3s.log.
 */
import { spawn } from "node:child_process";
import { closeSync, existsSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { openReadOnly } from "../sqlite/check";
import { bootstrapKey, decryptBootstrap } from "../kine/bootstrap";
import { demoTools } from "./plain-js";
import { parsePidRecord, pidAlive, pidRecord, recordedProcessAlive, type PidRecord } from "../../lib/storage/pid-record";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "../..");

function option(args: string[], name: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
}

function files(serverDir: string) {
  const base = path.dirname(path.resolve(serverDir));
  return {
    pid: path.join(base, "simulated-k3s.pid"),
    log: path.join(base, "simulated-k3s.log"),
    db: path.join(serverDir, "db", "state.db"),
    token: path.join(serverDir, "token"),
  };
}

function runningRecord(pidFile: string): PidRecord | null {
  if (!existsSync(pidFile)) return null;
  // The writer this file named, if it still runs: a pid from before a reboot may name another
  // process by now, which stop must never signal (lib/storage/pid-record.ts).
  const rec = parsePidRecord(readFileSync(pidFile, "utf8"));
  return rec && recordedProcessAlive(rec) ? rec : null;
}

/** k3s's own check before it uses a datastore (pkg/cluster/storage.go). Returns an error line or null. */
function bootstrapProblem(db: string, tokenFile: string): string | null {
  if (!existsSync(db)) return null;
  const token = existsSync(tokenFile) ? readFileSync(tokenFile, "utf8").trim() : "";
  const conn = openReadOnly(db);
  try {
    const rows = conn.prepare("SELECT name, value FROM kine WHERE name LIKE '/bootstrap/%' AND deleted = 0 ORDER BY id DESC").all() as {
      name: string;
      value: Buffer;
    }[];
    if (!rows.length) return null;
    if (!token) return "token is required to use existing bootstrap data";
    const row = rows.find((r) => r.name === bootstrapKey(token));
    if (!row) return "bootstrap data already found and encrypted with different token";
    try {
      decryptBootstrap(token, row.value);
      return null;
    } catch {
      return "bootstrap data already found and encrypted with different token";
    }
  } finally {
    conn.close();
  }
}

async function start(serverDir: string, args: string[]): Promise<number> {
  const f = files(serverDir);
  if (runningRecord(f.pid)) return 0;
  const problem = bootstrapProblem(f.db, f.token);
  if (problem) {
    process.stderr.write(`level=fatal msg="starting kubernetes: preparing server: ${problem}"\n`);
    return 1;
  }
  writeFileSync(f.log, "");
  const out = openSync(f.log, "a");
  // Built as plain JavaScript (plain-js.ts), the writer sits beside this file; else the sources run through tsx.
  const writer = import.meta.url.endsWith(".js") ? [path.join(HERE, "kine-writer.js")] : ["--import", "tsx", path.join(HERE, "kine-writer.ts")];
  const writerArgs = [...writer, "--db", f.db, "--interval-ms", option(args, "interval-ms") ?? "100"];
  const compact = option(args, "compact-every-ms");
  if (compact !== undefined) writerArgs.push("--compact-every-ms", compact);
  const child = spawn(process.execPath, writerArgs, { cwd: ROOT, detached: true, stdio: ["ignore", out, out] });
  closeSync(out);
  child.unref();
  writeFileSync(f.pid, pidRecord(child.pid!));
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const log = readFileSync(f.log, "utf8");
    if (log.includes('"event":"ready"')) return 0;
    if (log.includes('"event":"error"') || !pidAlive(child.pid!)) {
      process.stderr.write(`k3s failed to start: ${log.trim()}\n`);
      rmSync(f.pid, { force: true });
      return 1;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  process.stderr.write("k3s did not become ready within 30 s\n");
  return 1;
}

async function stop(serverDir: string): Promise<number> {
  const f = files(serverDir);
  const rec = runningRecord(f.pid);
  if (rec) {
    const running = () => recordedProcessAlive(rec);
    process.kill(rec.pid, "SIGTERM");
    const deadline = Date.now() + 10_000;
    while (running() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    if (running()) process.kill(rec.pid, "SIGKILL");
    while (running()) await new Promise((r) => setTimeout(r, 20));
  }
  rmSync(f.pid, { force: true });
  return 0;
}

function status(serverDir: string): number {
  const running = runningRecord(files(serverDir).pid) !== null;
  process.stdout.write(running ? "active\n" : "inactive\n");
  return running ? 0 : 3;
}

/** The three shell command lines to configure an agent with, for a server dir. Never throws. */
export function simulatedK3sCommands(
  serverDir: string,
  opts: { intervalMs?: number; compactEveryMs?: number } = {},
): { start: string; stop: string; status: string } {
  const built = demoTools();
  const self = built ? JSON.stringify(built.simulatedK3s) : `--import tsx ${JSON.stringify(path.join(HERE, "simulated-k3s.ts"))}`;
  const base = `cd ${JSON.stringify(ROOT)} && ${JSON.stringify(process.execPath)} ${self}`;
  const extra = `${opts.intervalMs !== undefined ? ` --interval-ms ${opts.intervalMs}` : ""}${opts.compactEveryMs !== undefined ? ` --compact-every-ms ${opts.compactEveryMs}` : ""}`;
  const dir = JSON.stringify(serverDir);
  return { start: `${base} start --server-dir ${dir}${extra}`, stop: `${base} stop --server-dir ${dir}`, status: `${base} status --server-dir ${dir}` };
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href;
if (isMain) {
  const [cmd, ...args] = process.argv.slice(2);
  const serverDir = option(args, "server-dir");
  if (!serverDir || !["start", "stop", "status"].includes(cmd)) {
    process.stderr.write("usage: simulated-k3s.ts <start|stop|status> --server-dir <dir>\n");
    process.exit(2);
  }
  const run = cmd === "start" ? start(serverDir, args) : cmd === "stop" ? stop(serverDir) : Promise.resolve(status(serverDir));
  run.then(
    (code) => process.exit(code),
    (err) => {
      process.stderr.write(`${(err as Error).message}\n`);
      process.exit(1);
    },
  );
}
