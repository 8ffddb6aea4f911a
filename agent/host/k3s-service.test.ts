import { afterAll, describe, expect, it } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { databaseFiles, processesHolding } from "./k3s-service";

/**
 * Who holds the database, where k3s's db/ (or state.db itself) is a symlink to another disk, as
 * people move a growing datastore: /proc/<pid>/fd names the file by its real path.
 */

const work = mkdtempSync(path.join(tmpdir(), "lifeboat-holders-"));
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) c.kill("SIGKILL");
  rmSync(work, { recursive: true, force: true });
});

/** A process holding `file` open (as its stdin) until the test ends. */
function holder(file: string): ChildProcess {
  const fd = openSync(file, "r");
  try {
    const c = spawn("sleep", ["60"], { stdio: [fd, "ignore", "ignore"] });
    children.push(c);
    return c;
  } finally {
    closeSync(fd);
  }
}

describe("processesHolding", () => {
  it("finds a process holding state.db through a db/ that is a symlink to another directory", async () => {
    const real = path.join(work, "ssd", "k3s-db");
    mkdirSync(real, { recursive: true });
    writeFileSync(path.join(real, "state.db"), "x");
    mkdirSync(path.join(work, "server"));
    symlinkSync(real, path.join(work, "server", "db"));
    const c = holder(path.join(real, "state.db"));
    const found = await processesHolding(databaseFiles(path.join(work, "server", "db", "state.db")));
    expect(found.map((h) => h.pid)).toContain(c.pid);
  });

  it("finds a process holding the file a state.db symlink points at", async () => {
    mkdirSync(path.join(work, "b", "db"), { recursive: true });
    const real = path.join(work, "b", "elsewhere.db");
    writeFileSync(real, "x");
    symlinkSync(real, path.join(work, "b", "db", "state.db"));
    const c = holder(real);
    const found = await processesHolding(databaseFiles(path.join(work, "b", "db", "state.db")));
    expect(found.map((h) => h.pid)).toContain(c.pid);
  });
});
