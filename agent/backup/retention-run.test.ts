import { afterAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync, utimesSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pino from "pino";
import { Readable } from "node:stream";
import { FsBackupStore } from "../../lib/storage/fs-backup-store";
import { listAll, type BackupStore } from "../../lib/storage/backup-store";
import { lifeboatObjectNames } from "../../lib/contracts/backup-names";
import type { RetentionPolicy } from "../../lib/contracts/agent-backup";
import { runRetention } from "./retention-run";
import { retentionCommand } from "../commands/retention";
import { loadAgentConfig } from "../config";
import { makeDeps } from "../deps";

/**
 * runRetention against a real directory store. The archives' bytes do not matter to retention (it
 * reads manifests only for the log, and these stores hold no log): each object is a few bytes.
 */
const work = mkdtempSync(path.join(tmpdir(), "lifeboat-retention-run-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));
let n = 0;
const newStore = () => new FsBackupStore(path.join(work, `store-${++n}`));
const keepLast = (k: number): RetentionPolicy => ({ keepLast: k, keepDaily: 0, keepWeekly: 0, keepMonthly: 0 });

async function putSet(store: BackupStore, iso: string, folder = ""): Promise<string[]> {
  const keys = Object.values(lifeboatObjectNames(new Date(iso))).map((k) => folder + k);
  for (const k of keys) await store.put(k, Readable.from([Buffer.from(`bytes of ${k}`)]));
  return keys;
}

async function keysOf(store: BackupStore): Promise<string[]> {
  const out: string[] = [];
  for await (const o of listAll(store)) out.push(o.key);
  return out.sort();
}

describe("runRetention", () => {
  it("never deletes sets kept in a folder below the store: another cluster's backups, a copy pinned by hand", async () => {
    const store = newStore();
    const own = [await putSet(store, "2026-12-05T00:00:00Z"), await putSet(store, "2026-12-06T00:00:00Z"), await putSet(store, "2026-12-07T00:00:00Z")];
    // A second cluster writing below this store's prefix, and a good set copied into a folder to keep it.
    const other = [await putSet(store, "2026-12-01T00:00:00Z", "cluster-b/"), await putSet(store, "2026-11-01T00:00:00Z", "pinned/")];
    const before = await keysOf(store);

    const dry = await runRetention(store, keepLast(1), { dryRun: true });
    expect(await keysOf(store)).toEqual(before);
    const report = await runRetention(store, keepLast(1), { dryRun: false });
    expect(report.failed).toEqual([]);

    const after = await keysOf(store);
    for (const k of other.flat()) expect(after, k).toContain(k);
    // The store's own sets: the newest stays, the two older go.
    expect(after).toEqual([...own[2], ...other.flat()].sort());
    expect(report.sets.find((d) => d.setId === "lifeboat-2026-12-01_00-00-00")?.action).toBe("ignore");
    expect(report.sets.find((d) => d.setId === "lifeboat-2026-12-01_00-00-00")?.reasons[0]).toMatch(/cluster-b\//);
    expect(dry.sets.map((d) => [d.setId, d.action])).toEqual(report.sets.map((d) => [d.setId, d.action]));
  });

  it("keeps the set uploaded last even when a set stamped later exists (a host clock that was ahead, or is behind now)", async () => {
    const root = path.join(work, `store-${++n}`);
    const store = new FsBackupStore(root);
    // Made while the host's clock was a year ahead, uploaded a week ago.
    const ahead = await putSet(store, "2027-12-01T00:00:00Z");
    const older = await putSet(store, "2026-12-05T00:00:00Z");
    const newest = await putSet(store, "2026-12-07T00:00:00Z"); // tonight's, the newest data
    const at = (keys: string[], iso: string) => keys.forEach((k) => utimesSync(path.join(root, k), new Date(iso), new Date(iso)));
    at(ahead, "2026-11-30T00:00:00Z");
    at(older, "2026-12-05T00:00:05Z");
    at(newest, "2026-12-07T00:00:05Z");

    const report = await runRetention(store, keepLast(1), { dryRun: false });
    const after = await keysOf(store);
    for (const k of newest) expect(after, k).toContain(k);
    expect(report.sets.find((d) => d.setId === "lifeboat-2026-12-07_00-00-00")?.reasons.join("; ")).toMatch(/uploaded last/);
    // The set stamped in the future is still the newest by name, so it stays too; the one between goes.
    for (const k of ahead) expect(after, k).toContain(k);
    for (const k of older) expect(after, k).not.toContain(k);
  });

  it("the CLI deletes only the sets the person confirmed, even when a backup lands while it asks", async () => {
    const root = path.join(work, `store-${++n}`);
    const deps = makeDeps(
      loadAgentConfig({
        LIFEBOAT_BACKUP_DIR: root,
        LIFEBOAT_STATE_DIR: path.join(work, `state-${n}`),
        LIFEBOAT_KEEP_LAST: "2",
        LIFEBOAT_KEEP_DAILY: "0",
        LIFEBOAT_KEEP_WEEKLY: "0",
        LIFEBOAT_KEEP_MONTHLY: "0",
        LOG_LEVEL: "silent",
      }),
      { logDestination: pino.destination("/dev/null") },
    );
    const store = deps.store();
    const first = await putSet(store, "2026-12-04T00:00:00Z");
    const second = await putSet(store, "2026-12-05T00:00:00Z");
    await putSet(store, "2026-12-06T00:00:00Z");
    const questions: string[] = [];
    const out: string[] = [];
    const code = await retentionCommand.run([], deps, {
      out: (l) => out.push(l),
      err: () => {},
      confirm: async (q) => {
        questions.push(q);
        await putSet(store, "2026-12-07T00:00:00Z"); // tonight's backup, while the person reads the plan
        return true;
      },
    });
    expect(code).toBe(0);
    expect(questions).toEqual([expect.stringMatching(/^Delete 1 sets and 0 log segments from /)]);
    const after = await keysOf(store);
    for (const k of first) expect(after, k).not.toContain(k);
    // Pushed out of the last 2 by tonight's set, but not in the plan that was confirmed: it stays.
    for (const k of second) expect(after, k).toContain(k);
    expect(out).toContainEqual(expect.stringMatching(/^KEEP +lifeboat-2026-12-05_00-00-00 +not in the plan you confirmed/));
  });
});
