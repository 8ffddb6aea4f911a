import { afterAll, describe, expect, it } from "vitest";
import { chownSync, lstatSync, mkdirSync, mkdtempSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { loadAgentConfig } from "../config";
import { fixOwnership } from "./swap";

/**
 * Owner and mode after a rollback put back a db/ that is a symlink to another disk (people move a
 * growing datastore there and link it back): the directory k3s uses is the link's target.
 */

const work = mkdtempSync(path.join(tmpdir(), "lifeboat-owner-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const mode = (p: string) => (statSync(p).mode & 0o777).toString(8);

describe("fixOwnership", () => {
  it("applies owner and mode through a db/ that is a symlink to a directory, and keeps the link", async () => {
    const serverDir = path.join(work, "server");
    const real = path.join(work, "ssd", "k3s-db");
    mkdirSync(real, { recursive: true, mode: 0o755 });
    mkdirSync(serverDir);
    writeFileSync(path.join(real, "state.db"), "x", { mode: 0o644 });
    chownSync(path.join(real, "state.db"), 1234, 1234);
    symlinkSync(real, path.join(serverDir, "db"));
    writeFileSync(path.join(serverDir, "token"), "t\n", { mode: 0o644 });
    const cfg = loadAgentConfig({ LIFEBOAT_K3S_SERVER_DIR: serverDir, LIFEBOAT_STATE_DIR: path.join(work, "state"), LIFEBOAT_OWNER: "1000:1000" });
    await expect(fixOwnership(cfg, [])).resolves.toBeGreaterThan(0);
    expect(lstatSync(path.join(serverDir, "db")).isSymbolicLink()).toBe(true);
    expect(readlinkSync(path.join(serverDir, "db"))).toBe(real);
    expect(mode(real)).toBe("700");
    expect(mode(path.join(real, "state.db"))).toBe("600");
    expect(statSync(path.join(real, "state.db"))).toMatchObject({ uid: 1000, gid: 1000 });
  });
});
