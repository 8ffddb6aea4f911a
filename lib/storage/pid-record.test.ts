import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parsePidRecord, pidRecord, processIdentity, recordedProcessAlive } from "./pid-record";

const TSX = path.resolve(import.meta.dirname, "../../node_modules/.bin/tsx");

describe("pid records", () => {
  it("reads what it writes, the pid alone of older files, and nothing from junk", () => {
    const mine = pidRecord();
    expect(mine).toMatch(/^\d+\n[0-9a-f-]+\/\d+\n$/);
    expect(parsePidRecord(mine)).toEqual({ pid: process.pid, id: processIdentity(process.pid) });
    expect(parsePidRecord("4242\n")).toEqual({ pid: 4242, id: null });
    expect(parsePidRecord(" 4242 ")).toEqual({ pid: 4242, id: null });
    for (const junk of ["", "\n", "0", "-5", "abc", "42 43", "42\na b\n", "42\nx\ny\n", "99999999999999999999"])
      expect(parsePidRecord(junk), JSON.stringify(junk)).toBeNull();
  });

  it("tells this process from another start of the same pid, and from another boot", () => {
    const id = processIdentity(process.pid)!;
    const start = Number(readFileSync(`/proc/${process.pid}/stat`, "utf8").split(") ")[1].split(" ")[19]);
    expect(id.endsWith(`/${start}`)).toBe(true);
    expect(recordedProcessAlive({ pid: process.pid, id })).toBe(true);
    expect(recordedProcessAlive({ pid: process.pid, id: id.replace(/\/\d+$/, `/${start + 1}`) })).toBe(false);
    expect(recordedProcessAlive({ pid: process.pid, id: `00000000-0000-0000-0000-000000000000/${start}` })).toBe(false);
    // A pid no process has (beyond the kernel's pid_max): gone, with or without an identity.
    expect(recordedProcessAlive({ pid: 2 ** 22 + 1, id })).toBe(false);
    expect(recordedProcessAlive({ pid: 2 ** 22 + 1, id: null })).toBe(false);
  });
});

describe("takeLockFile", () => {
  it("a stale lock found by several processes at once is taken over by one of them only", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "lifeboat-lock-race-"));
    try {
      // A record of a process that is gone.
      const dead = spawnSync(process.execPath, ["-e", "process.stdout.write(require('fs').readFileSync('/proc/self/stat','utf8'))"], { encoding: "utf8" });
      const fields = dead.stdout.slice(dead.stdout.lastIndexOf(")") + 2).split(" ");
      const stale = `${dead.pid}\n${readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim()}/${fields[19]}\n`;
      const ROUNDS = 24;
      for (let i = 0; i < ROUNDS; i++) writeFileSync(path.join(dir, `lock-${i}`), stale);
      const script = path.join(dir, "take.ts");
      writeFileSync(
        script,
        `import { takeLockFile } from ${JSON.stringify(path.resolve(import.meta.dirname, "pid-record.ts"))};
const [dir, t0] = [process.argv[2], Number(process.argv[3])];
const out: string[] = [];
for (let i = 0; i < ${ROUNDS}; i++) {
  while (Date.now() < t0 + i * 150) {}
  const got = takeLockFile(dir + "/lock-" + i);
  out.push("release" in got ? "GOT " + i : "BUSY " + i);
}
console.log(out.join("\\n"));
`,
      );
      // Every child races for the same lock file at the same moment, round after round (holding what it got).
      const t0 = Date.now() + 4000;
      const outputs = await Promise.all(
        Array.from({ length: 6 }, () => {
          const child = spawn(TSX, [script, dir, String(t0)], { stdio: ["ignore", "pipe", "inherit"] });
          let out = "";
          child.stdout.on("data", (d: Buffer) => (out += d.toString()));
          return new Promise<string>((resolve) => child.on("close", () => resolve(out)));
        }),
      );
      const got = outputs.flatMap((o) => o.split("\n").filter((l) => l.startsWith("GOT ")));
      const perRound = Array.from({ length: ROUNDS }, (_, i) => got.filter((l) => l === `GOT ${i}`).length);
      expect(perRound).toEqual(Array.from({ length: ROUNDS }, () => 1));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
