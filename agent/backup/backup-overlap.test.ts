import { afterAll, beforeAll, expect, it } from "vitest";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pino from "pino";
import { loadAgentConfig } from "../config";
import { makeDeps } from "../deps";
import type { AgentDeps } from "../module";
import { agentEnvFor, makeTestServer } from "../testing/restore-fixtures";
import { lifeboatObjectNames, parseSetId } from "../../lib/contracts/backup-names";
import { startBackupJob } from "./run-backup";
import { listStoreSets } from "./sets";

/**
 * The backup takes its snapshot (worker thread) while the main thread lists the store and proves the
 * passphrase. So the set's name (its snapshot's second) is chosen before the listing is known, and a
 * wrong passphrase is found after the snapshot exists. Both must still end as before: a name already
 * in the store is never written over (the snapshot is taken again in a free second), and a wrong
 * passphrase uploads nothing and leaves no snapshot behind.
 */
const work = mkdtempSync(path.join(tmpdir(), "lifeboat-backup-overlap-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));
let env: Record<string, string>;
const depsWith = (extra: Record<string, string> = {}): AgentDeps =>
  makeDeps(loadAgentConfig({ ...env, ...extra }), { logDestination: pino.destination("/dev/null") });

beforeAll(() => {
  const server = makeTestServer(path.join(work, "server"), { seed: 62, marker: "marker-overlap" });
  mkdirSync(path.join(work, "store"));
  writeFileSync(path.join(work, "pass"), "overlap passphrase\n");
  env = { ...agentEnvFor(server), LIFEBOAT_BACKUP_DIR: path.join(work, "store"), LIFEBOAT_PASSPHRASE_FILE: path.join(work, "pass") };
});

it("a set already named after the snapshot's second is never written over: the snapshot is taken again in a free second", async () => {
  const deps = depsWith();
  const first = await startBackupJob(deps, { retention: false, allowNewPassphrase: false }, "cli").done;
  expect(first.state, first.error ?? "").toBe("succeeded");
  const firstId = (first.result as { setId: string }).setId;
  const store = deps.store();
  const firstNames = lifeboatObjectNames(parseSetId(firstId)!.time);
  // Copies of the first set under this second's name and the next two: the new backup starts inside them.
  const now = Math.floor(Date.now() / 1000) * 1000;
  const taken = [0, 1, 2].map((k) => lifeboatObjectNames(new Date(now + k * 1000)));
  const originals: Record<string, Buffer> = {};
  for (const kind of ["logical", "secrets", "manifest"] as const) {
    const bytes = Buffer.concat(await (await store.get(firstNames[kind])).toArray());
    for (const names of taken) {
      if (names[kind] === firstNames[kind]) continue;
      await store.put(names[kind], (await import("node:stream")).Readable.from([bytes]), { contentType: "application/octet-stream" });
      originals[names[kind]] = bytes;
    }
  }
  const second = await startBackupJob(deps, { retention: false, allowNewPassphrase: false }, "cli").done;
  expect(second.state, second.error ?? "").toBe("succeeded");
  const secondTime = parseSetId((second.result as { setId: string }).setId)!.time.getTime();
  expect(secondTime).toBeGreaterThanOrEqual(now + 3000);
  for (const [key, bytes] of Object.entries(originals)) expect(Buffer.concat(await (await store.get(key)).toArray()).equals(bytes), key).toBe(true);
  const sets = (await listStoreSets(store)).sets.filter((s) => s.format === "lifeboat");
  expect(sets.map((s) => s.id)).toContain((second.result as { setId: string }).setId);
  expect(readdirSync(path.join(env.LIFEBOAT_STATE_DIR, "snapshots"))).toEqual([]);
}, 30_000);

it("a wrong passphrase found while the snapshot runs: the backup fails, nothing is uploaded, no snapshot is left", async () => {
  writeFileSync(path.join(work, "typo"), "overlap passfrase\n");
  const deps = depsWith({ LIFEBOAT_PASSPHRASE_FILE: path.join(work, "typo") });
  const store = deps.store();
  const before = (await listStoreSets(store)).sets.map((s) => s.id);
  const job = await startBackupJob(deps, { retention: false, allowNewPassphrase: false }, "cli").done;
  expect(job.state).toBe("failed");
  expect(job.error).toMatch(/does not open the newest existing backup/);
  expect((await listStoreSets(store)).sets.map((s) => s.id)).toEqual(before);
  expect(readdirSync(path.join(env.LIFEBOAT_STATE_DIR, "snapshots"))).toEqual([]);
}, 30_000);
