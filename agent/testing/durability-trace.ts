import path from "node:path";

/**
 * A power-cut model of an strace log, for the durability tests (agent/restore/durability.test.ts).
 * SIGKILL keeps the page cache, so crash tests cannot see a missing fsync; this can. The agent runs
 * under `strace -f -b execve -y -s 65536` (its own threads, and the commands it starts up to their
 * execve); every change it makes to a file or directory stays "dirty" — lost in a power cut — until
 * an fsync of that file (its content, owner and mode) or of its directory (the names in it) makes it
 * durable. On that model the rules of a restore and a rollback are checked:
 *
 *   rename    what is renamed into place is durable first (a power cut must not leave a new name
 *             over content that never reached the disk: the journal's temporary file, the staged db/);
 *   journal   the journal says what is about to happen before it happens: each change on the server
 *             and each k3s command finds the journal durable (its content, its name, the names of the
 *             directories above it);
 *   advance   the journal only moves on once what was done is durable (a journal saying "swapped"
 *             while a rename or the removal of a stale WAL could still be undone by a power cut would
 *             skip redoing it);
 *   staged    the staged backup is durable when the journal first says "staged" (what a restart
 *             confirms must be what was verified);
 *   start     k3s starts only on durable files (renames, owner and mode, stale -wal/-shm removed);
 *   end       nothing is left dirty on the server when the agent exits.
 */

export interface TraceCall {
  /** Line number in the log (of the call's completion). */
  line: number;
  pid: number;
  call: string;
  args: string;
  ret: string;
}

const LINE = /^(\d+) +(.*)$/;

/**
 * Parses `strace -f -o` output into completed calls in completion order, joining `<unfinished ...>`
 * with its `<... resumed>`. Signals, exits and failed calls are left out. Never throws.
 */
export function parseStrace(text: string): TraceCall[] {
  const out: TraceCall[] = [];
  const pending = new Map<number, { call: string; args: string; at?: number }>();
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const m = LINE.exec(lines[i]);
    if (!m) continue;
    const pid = Number(m[1]);
    let rest = m[2];
    if (rest.startsWith("---") || rest.startsWith("+++")) continue;
    const resumed = /^<\.\.\. (\w+) resumed>(.*)$/.exec(rest);
    let call: string;
    let body: string;
    if (resumed) {
      const p = pending.get(pid);
      pending.delete(pid);
      if (!p || p.call !== resumed[1]) continue;
      if (p.at !== undefined) {
        // An execve already counted when it began: a failure withdraws it.
        if (/\) += -1/.test(resumed[2])) out[p.at].ret = "-1";
        continue;
      }
      call = p.call;
      rest = p.args + resumed[2];
      body = rest;
    } else {
      const c = /^(\w+)\((.*)$/.exec(rest);
      if (!c) continue;
      call = c[1];
      body = c[2];
      const unfinished = / <unfinished \.\.\.>$/.exec(body);
      if (unfinished) {
        const args = body.slice(0, unfinished.index);
        // Under load strace may print an execve as unfinished and then detach (-b execve) without
        // a "resumed" line: the command did start, so it counts from here.
        if (call === "execve") {
          pending.set(pid, { call, args, at: out.length });
          out.push({ line: i + 1, pid, call, args, ret: "0" });
        } else pending.set(pid, { call, args });
        continue;
      }
    }
    const detached = / <detached \.\.\.>$/.exec(body);
    if (detached) {
      out.push({ line: i + 1, pid, call, args: body.slice(0, detached.index), ret: "0" });
      continue;
    }
    const r = /\) += (.*)$/.exec(body);
    if (!r) continue;
    const ret = r[1];
    if (ret.startsWith("-1")) continue;
    out.push({ line: i + 1, pid, call, args: body.slice(0, r.index), ret });
  }
  return out.filter((c) => !c.ret.startsWith("-1"));
}

/** The quoted strings of an argument list, unescaped. */
function strings(args: string): string[] {
  const out: string[] = [];
  for (const m of args.matchAll(/"((?:[^"\\]|\\.)*)"/g))
    out.push(
      m[1].replace(/\\(x[0-9a-fA-F]{2}|[0-7]{1,3}|.)/g, (_, e: string) => {
        if (e[0] === "x") return String.fromCharCode(parseInt(e.slice(1), 16));
        if (/^[0-7]+$/.test(e)) return String.fromCharCode(parseInt(e, 8));
        return ({ n: "\n", t: "\t", r: "\r", v: "\v", f: "\f" } as Record<string, string>)[e] ?? e;
      }),
    );
  return out;
}

/** The path strace's -y prints after a file descriptor (`12</a/b>`), or null. */
function fdPath(arg: string): string | null {
  const m = /^(?:\d+|AT_FDCWD)<(.*)>$/.exec(arg.trim());
  return m && m[1].startsWith("/") ? m[1] : null;
}

/** Splits an argument list at top-level commas (not inside quotes, brackets or braces). */
function splitArgs(args: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quoted = false;
  let cur = "";
  for (let i = 0; i < args.length; i++) {
    const c = args[i];
    if (quoted) {
      cur += c;
      if (c === "\\") cur += args[++i] ?? "";
      else if (c === '"') quoted = false;
      continue;
    }
    if (c === '"') quoted = true;
    else if (c === "[" || c === "{" || c === "(") depth++;
    else if (c === "]" || c === "}" || c === ")") depth--;
    if (c === "," && depth === 0) {
      out.push(cur.trim());
      cur = "";
    } else cur += c;
  }
  if (cur.trim()) out.push(cur.trim());
  return out;
}

/** `dirfd, "path"` → an absolute path. */
function atPath(dirArg: string, pathArg: string): string | null {
  const p = strings(pathArg)[0];
  if (p === undefined) return null;
  if (p.startsWith("/")) return path.normalize(p);
  const dir = fdPath(dirArg);
  return dir ? path.join(dir, p) : null;
}

export interface DurabilityOptions {
  /** k3s's server dir: everything the agent changes below it must be durable before k3s starts. */
  serverDir: string;
  /** LIFEBOAT_STATE_DIR: the journals (and usually the staging directory) live below it. */
  stateDir: string;
  /** The configured start and stop command lines (as `sh -c` runs them). */
  startCommand: string;
  stopCommand: string;
}

export interface Violation {
  rule: "rename" | "journal" | "advance" | "staged" | "start" | "end";
  line: number;
  message: string;
}

export interface DurabilityReport {
  violations: Violation[];
  /** What the trace held, so a test can tell a vacuous pass (no restore traced) from a real one. */
  seen: {
    fsyncs: number;
    journalCommits: string[];
    serverRenames: string[];
    serverChowns: number;
    serverUnlinks: string[];
    starts: number;
    stops: number;
  };
}

const under = (p: string, root: string) => p === root || p.startsWith(root + "/");
const JOURNAL = /\/restores\/[^/]+\/journal\.json$/;

/** Applies the model (see the module comment) to a parsed trace. Never throws. */
export function checkDurability(calls: TraceCall[], opts: DurabilityOptions): DurabilityReport {
  const server = path.resolve(opts.serverDir);
  const state = path.resolve(opts.stateDir);
  const data = new Map<string, number>(); // file → line of its first unsynced write
  const meta = new Map<string, number>(); // path → line of its first unsynced chown/chmod
  const entries = new Map<string, Map<string, number>>(); // directory → names changed since its last fsync
  const sources = new Set<string>(); // directories something was renamed out of into the server dir
  const tmpPhase = new Map<string, { phase: string | null; stagingDir: string | null }>();
  const violations: Violation[] = [];
  const seen: DurabilityReport["seen"] = { fsyncs: 0, journalCommits: [], serverRenames: [], serverChowns: 0, serverUnlinks: [], starts: 0, stops: 0 };
  let journal: string | null = null;
  const stagingOf = new Map<string, string>(); // journal → its restore's staging dir
  const stagedChecked = new Set<string>();
  // While k3s runs, the live -wal/-shm are its files: the agent's reads open (and, as root, chown)
  // them as SQLite does for any reader, which is nothing the agent must make durable.
  let k3sRunning = true;
  const k3sOwns = (p: string) => k3sRunning && under(p, server) && /-(wal|shm)$/.test(p);
  const root = calls[0]?.pid;

  const touch = (dir: string, name: string, line: number) => {
    if (!entries.has(dir)) entries.set(dir, new Map());
    if (!entries.get(dir)!.has(name)) entries.get(dir)!.set(name, line);
  };
  const changed = (p: string, line: number) => touch(path.dirname(p), path.basename(p), line);
  const moveKeys = <T>(m: Map<string, T>, from: string, to: string) => {
    for (const k of [...m.keys()]) if (under(k, to)) m.delete(k);
    for (const [k, v] of [...m]) {
      if (!under(k, from)) continue;
      m.delete(k);
      m.set(to + k.slice(from.length), v);
    }
  };
  /** Dirty things below `top` (or exactly it), as "what (line N)". */
  const dirtyBelow = (top: string): string[] => {
    const out: string[] = [];
    for (const [f, l] of data) if (under(f, top)) out.push(`unsynced write to ${f} (line ${l})`);
    for (const [f, l] of meta) if (under(f, top)) out.push(`unsynced owner/mode of ${f} (line ${l})`);
    for (const [d, names] of entries) if (under(d, top)) for (const [n, l] of names) out.push(`unsynced name ${path.join(d, n)} (line ${l})`);
    return out;
  };
  const serverDirty = () => [
    ...dirtyBelow(server),
    ...[...sources].flatMap((d) => [...(entries.get(d) ?? [])].map(([n, l]) => `unsynced name ${path.join(d, n)} (line ${l})`)),
  ];
  /** Why the journal is not durable now, or null when it is. */
  const journalDirty = (): string | null => {
    if (!journal) return "no journal has been written yet";
    if (data.has(journal)) return `the journal's content is not fsynced (line ${data.get(journal)})`;
    for (let p = journal; p !== path.dirname(state) && p !== "/"; p = path.dirname(p)) {
      const l = entries.get(path.dirname(p))?.get(path.basename(p));
      if (l !== undefined) return `the name ${p} is not fsynced in its directory (line ${l})`;
    }
    return null;
  };
  const flag = (rule: Violation["rule"], line: number, message: string) => violations.push({ rule, line, message });
  const effect = (line: number, what: string) => {
    const why = journalDirty();
    if (why) flag("journal", line, `${what} while ${why}`);
  };

  for (const c of calls) {
    const a = splitArgs(c.args);
    switch (c.call) {
      case "execve": {
        if (c.pid === root) break;
        const argv = strings(a[1] ?? "");
        const cmd = argv[0]?.endsWith("sh") && argv[1] === "-c" ? argv[2] : null;
        if (cmd === opts.stopCommand) {
          seen.stops++;
          k3sRunning = false;
          effect(c.line, "the stop command ran");
        } else if (cmd === opts.startCommand) {
          seen.starts++;
          k3sRunning = true;
          effect(c.line, "the start command ran");
          const dirty = serverDirty();
          if (dirty.length) flag("start", c.line, `k3s was started with ${dirty.join("; ")}`);
        }
        break;
      }
      case "open":
      case "openat": {
        const flagsArg = c.call === "open" ? a[1] : a[2];
        const p = fdPath(c.ret) ?? (c.call === "open" ? atPath("AT_FDCWD", a[0]) : atPath(a[0], a[1]));
        if (p && /O_CREAT/.test(flagsArg ?? "") && !k3sOwns(p)) changed(p, c.line);
        break;
      }
      case "mkdir":
      case "mkdirat": {
        const p = c.call === "mkdir" ? atPath("AT_FDCWD", a[0]) : atPath(a[0], a[1]);
        if (!p) break;
        if (under(p, server)) effect(c.line, `mkdir ${p}`);
        changed(p, c.line);
        break;
      }
      case "write":
      case "pwrite64":
      case "writev":
      case "pwritev":
      case "pwritev2":
      case "ftruncate":
      case "fallocate": {
        const p = fdPath(a[0] ?? "");
        if (!p || !(under(p, server) || under(p, state))) break;
        if (!data.has(p)) data.set(p, c.line);
        if (c.call === "write" && /\/\.journal\.json\.tmp-[^/]+$/.test(p)) {
          const text = strings(a[1] ?? "")[0] ?? "";
          const phase = /"phase": "([^"]+)"/.exec(text)?.[1] ?? null;
          const staging = /"stagingDir": "([^"]+)"/.exec(text)?.[1] ?? null;
          if (phase) tmpPhase.set(p, { phase, stagingDir: staging });
        }
        break;
      }
      case "fsync":
      case "fdatasync": {
        const p = fdPath(a[0] ?? "");
        if (!p) break;
        seen.fsyncs++;
        data.delete(p);
        entries.delete(p);
        if (c.call === "fsync") meta.delete(p);
        break;
      }
      case "chown":
      case "lchown":
      case "chmod":
      case "fchownat":
      case "fchmodat":
      case "fchown":
      case "fchmod": {
        const p = c.call.startsWith("f") && !c.call.endsWith("at") ? fdPath(a[0] ?? "") : c.call.endsWith("at") ? atPath(a[0], a[1]) : atPath("AT_FDCWD", a[0]);
        if (!p || k3sOwns(p)) break;
        if (under(p, server)) {
          seen.serverChowns++;
          effect(c.line, `${c.call} ${p}`);
        }
        if (!meta.has(p)) meta.set(p, c.line);
        break;
      }
      case "unlink":
      case "unlinkat":
      case "rmdir": {
        const p = c.call === "unlinkat" ? atPath(a[0], a[1]) : atPath("AT_FDCWD", a[0]);
        if (!p) break;
        if (under(p, server)) {
          seen.serverUnlinks.push(p);
          effect(c.line, `removing ${p}`);
        }
        for (const m of [data, meta]) for (const k of [...m.keys()]) if (under(k, p)) m.delete(k);
        for (const k of [...entries.keys()]) if (under(k, p)) entries.delete(k);
        sources.delete(p);
        changed(p, c.line);
        break;
      }
      case "rename":
      case "renameat":
      case "renameat2": {
        const from = c.call === "rename" ? atPath("AT_FDCWD", a[0]) : atPath(a[0], a[1]);
        const to = c.call === "rename" ? atPath("AT_FDCWD", a[1]) : atPath(a[2], a[3]);
        if (!from || !to) break;
        const watched = under(to, server) || under(to, state);
        if (watched) {
          const dirty = dirtyBelow(from);
          if (dirty.length) flag("rename", c.line, `${from} was renamed to ${to} with ${dirty.join("; ")}`);
        }
        const onServer = under(from, server) || under(to, server);
        if (onServer) {
          seen.serverRenames.push(`${path.relative(server, from)} → ${path.relative(server, to)}`);
          effect(c.line, `rename ${from} → ${to}`);
        }
        moveKeys(data, from, to);
        moveKeys(meta, from, to);
        moveKeys(entries, from, to);
        changed(from, c.line);
        changed(to, c.line);
        if (under(to, server) && !under(from, server)) sources.add(path.dirname(from));
        if (JOURNAL.test(to)) {
          // A journal commit: the temporary file's content becomes the journal.
          journal = to;
          const written = tmpPhase.get(from);
          const phase = written?.phase ?? "?";
          seen.journalCommits.push(phase);
          if (written?.stagingDir && !stagingOf.has(to)) stagingOf.set(to, written.stagingDir);
          const dirty = serverDirty();
          if (dirty.length) flag("advance", c.line, `the journal moved on (phase ${phase}) with ${dirty.join("; ")}`);
          const stagingDir = stagingOf.get(to);
          if (!stagedChecked.has(to) && phase === "staged" && stagingDir) {
            stagedChecked.add(to);
            const staged = dirtyBelow(stagingDir);
            if (staged.length) flag("staged", c.line, `the journal says "staged" with ${staged.join("; ")}`);
          }
        }
        break;
      }
    }
  }
  const last = calls.length ? calls[calls.length - 1].line : 0;
  const dirty = serverDirty();
  if (dirty.length) flag("end", last, `the agent exited with ${dirty.join("; ")}`);
  const why = journalDirty();
  if (why && journal) flag("end", last, `the agent exited while ${why}`);
  return { violations, seen };
}
