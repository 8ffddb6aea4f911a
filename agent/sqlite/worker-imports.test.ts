import { describe, expect, it } from "vitest";
import { staticClosure } from "../testing/static-imports";

/**
 * What a SQLite worker thread (worker-thread.ts, its own entry in the agent's bundle) loads when it
 * starts: every backup starts one for integrity_check and the statistics, beside the upload on the main
 * thread, so each module it loads counts twice in the backup's peak RSS (the main thread has its own
 * copy). zod alone cost a worker 5 MB (7.1-8.1 MB against 2.6-2.8 MB without, docs/benchmarks.md) and
 * came in only because SnapshotError extends DomainError; lib/contracts/domain-error.ts holds the error
 * model without zod for this reason.
 */
describe("the SQLite worker thread's start", () => {
  it("loads SQLite and the backup's tasks, and no zod, S3 SDK, archive pipeline, logger or job code", async () => {
    const loaded = await staticClosure("agent/sqlite/worker-thread.ts");
    // The walk itself works: the backup's tasks (snapshot check, statistics, copy) are loaded at start.
    expect(loaded).toEqual(expect.arrayContaining(["agent/sqlite/tasks.ts", "agent/backup/snapshot.ts", "agent/kine/stats.ts", "better-sqlite3"]));
    const unneeded = loaded.filter((p) =>
      /node_modules\/(zod|@aws-sdk|@smithy|tar|openpgp|pino|croner)\/|^zstd-napi$|^agent\/(archive|backup\/archive-pipeline|jobs|continuous|restore\/runner)\/?|^lib\/(storage|contracts\/errors\.ts)/.test(
        p,
      ),
    );
    expect(unneeded).toEqual([]);
  }, 30_000);
});
