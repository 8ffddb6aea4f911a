import { describe, it, expect } from "vitest";
import { checkDurability, parseStrace } from "./durability-trace";

/**
 * The power-cut model on small hand-written strace logs: the parser's quirks (calls split by other
 * threads, an execve detached without a result) and each rule firing where it must and only there.
 * The real trace of a restore is in agent/restore/durability.test.ts.
 */

const S = "/srv/server";
const L = "/srv/lifeboat";
const J = `${L}/restores/r1`;
const opts = { serverDir: S, stateDir: L, startCommand: "/bin/k3s-start", stopCommand: "/bin/k3s-stop" };
const trace = (lines: string[]) => parseStrace(['100 execve("/usr/bin/node", ["node"], 0x0 /* 1 var */) = 0', ...lines].join("\n"));

/** A durable journal save: write the temporary file, fsync it, rename, fsync the directory. */
const journal = (phase: string, n: number) => [
  `100 openat(AT_FDCWD</>, "${J}/.journal.json.tmp-${n}", O_WRONLY|O_CREAT|O_EXCL|O_CLOEXEC, 0600) = 20<${J}/.journal.json.tmp-${n}>`,
  `100 write(20<${J}/.journal.json.tmp-${n}>, "{\\n  \\"phase\\": \\"${phase}\\",\\n  \\"stagingDir\\": \\"${J}/staging\\"\\n}", 60) = 60`,
  `100 fsync(20<${J}/.journal.json.tmp-${n}>) = 0`,
  `100 rename("${J}/.journal.json.tmp-${n}", "${J}/journal.json") = 0`,
  `100 fsync(21<${J}>) = 0`,
];
/** Everything a first journal needs: its directories made and their names fsynced. */
const start = [
  `100 mkdir("${L}", 0700) = 0`,
  `100 mkdir("${L}/restores", 0700) = 0`,
  `100 mkdir("${J}", 0700) = 0`,
  ...journal("created", 0),
  `100 fsync(22<${L}/restores>) = 0`,
  `100 fsync(23<${L}>) = 0`,
  `100 fsync(24</srv>) = 0`,
];
const swap = [
  `101 execve("/usr/bin/sh", ["sh", "-c", "/bin/k3s-stop"], 0x0 /* 1 var */ <detached ...>`,
  ...journal("swap:begin", 1),
  `100 rename("${S}/db", "${S}/db.before-restore-1") = 0`,
  `100 fsync(25<${S}>) = 0`,
  `100 rename("${J}/staging/db", "${S}/db") = 0`,
  `100 fsync(25<${S}>) = 0`,
  `100 fsync(26<${J}/staging>) = 0`,
  ...journal("swapped", 2),
];
const startK3s = `102 execve("/usr/bin/sh", ["sh", "-c", "/bin/k3s-start"], 0x0 /* 1 var */) = 0`;
const rules = (lines: string[]) => checkDurability(trace(lines), opts).violations.map((v) => v.rule);

describe("parseStrace", () => {
  it("joins a call split by another thread's, drops failed calls, keeps an execve detached or left unfinished", () => {
    const calls = parseStrace(
      [
        `7 fsync(3</a/f> <unfinished ...>`,
        `8 rename("/a/x", "/a/y") = 0`,
        `7 <... fsync resumed>) = 0`,
        `8 unlink("/a/nope") = -1 ENOENT (No such file or directory)`,
        `9 execve("/usr/bin/sh", ["sh", "-c", "one"], 0x0 /* 1 var */ <unfinished ...>`,
        `10 execve("/usr/local/bin/sh", ["sh", "-c", "two"], 0x0 /* 1 var */ <unfinished ...>`,
        `10 <... execve resumed>) = -1 ENOENT (No such file or directory)`,
        `11 execve("/usr/bin/sh", ["sh", "-c", "three"], 0x0 /* 1 var */ <detached ...>`,
        `7 +++ exited with 0 +++`,
      ].join("\n"),
    );
    expect(calls.map((c) => `${c.pid} ${c.call} ${c.line}`)).toEqual(["8 rename 2", "7 fsync 3", "9 execve 5", "11 execve 8"]);
  });
});

describe("checkDurability", () => {
  it("passes a restore that makes everything durable in order", () => {
    const r = checkDurability(trace([...start, ...swap, startK3s, ...journal("started", 3)]), opts);
    expect(r.violations).toEqual([]);
    expect(r.seen).toMatchObject({ stops: 1, starts: 1, journalCommits: ["created", "swap:begin", "swapped", "started"] });
    expect(r.seen.serverRenames).toEqual(["db → db.before-restore-1", "../lifeboat/restores/r1/staging/db → db"]);
  });

  it("rename: a journal renamed over before its content was fsynced", () => {
    const unsynced = journal("created", 0).filter((l) => !l.includes("fsync(20"));
    expect(rules([...start.slice(0, 3), ...unsynced])).toContain("rename");
  });

  it("journal: a k3s command while a new journal's directory name is not durable", () => {
    expect(rules([...start.filter((l) => !l.includes("fsync(22")), ...swap, startK3s])).toContain("journal");
  });

  it("advance and start: the journal moves on, and k3s starts, before the server dir's fsync", () => {
    const v = rules([...start, ...swap.filter((l) => !l.includes("fsync(25")), startK3s]);
    expect(v).toEqual(expect.arrayContaining(["advance", "start", "end"]));
  });

  it("staged: the journal says staged with a staged file's name not durable", () => {
    const staged = [
      `100 openat(AT_FDCWD</>, "${J}/staging/token", O_WRONLY|O_CREAT|O_EXCL, 0600) = 30<${J}/staging/token>`,
      `100 fsync(30<${J}/staging/token>) = 0`,
    ];
    expect(rules([...start, ...staged, ...journal("staged", 5)])).toEqual(["staged"]);
    expect(rules([...start, ...staged, `100 fsync(31<${J}/staging>) = 0`, ...journal("staged", 5)])).toEqual([]);
  });

  it("leaves k3s's -wal and -shm to k3s while it runs, not once it is stopped", () => {
    const reader = [
      `100 openat(AT_FDCWD</>, "${S}/db/state.db-wal", O_RDWR|O_CREAT, 0644) = 40<${S}/db/state.db-wal>`,
      `100 fchown(40<${S}/db/state.db-wal>, 0, 0) = 0`,
    ];
    expect(rules([...start, ...reader])).toEqual([]);
    expect(rules([...start, `101 execve("/usr/bin/sh", ["sh", "-c", "/bin/k3s-stop"], 0x0 /* 1 var */) = 0`, ...reader])).toContain("end");
  });
});
