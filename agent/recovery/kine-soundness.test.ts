import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { KINE_INSERT_SQL, openKineDb } from "../kine/schema";
import { auditKineRows } from "./kine-soundness";

/**
 * The kine check on rows as kine v0.16 (k3s-io/kine logstructured.go) writes them, not as the
 * simulator does: a delete's tombstone carries create_revision 0 (its KV is only the key), a create
 * after a delete names the tombstone as its prev_revision. None of these is damage.
 */

let work: string;
beforeAll(() => {
  work = mkdtempSync(path.join(tmpdir(), "lifeboat-kine-soundness-"));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("the kine check on kine v0.16's rows", () => {
  it("keeps a tombstone whose create_revision is 0, and the keys around it", () => {
    const file = path.join(work, "v016.db");
    const db = openKineDb(file);
    const ins = db.prepare(KINE_INSERT_SQL);
    const put = (...a: unknown[]) => Number(ins.run(...a).lastInsertRowid);
    put("compact_rev_key", 1, 0, 0, 0, 0, Buffer.alloc(0), 0);
    const c1 = put("/registry/configmaps/default/a", 1, 0, 0, 0, 0, Buffer.from("one"), 0);
    const u1 = put("/registry/configmaps/default/a", 0, 0, c1, c1, 0, Buffer.from("two"), c1);
    // kine v0.16's Delete: KV {Key}, PrevKV {ModRevision} → create_revision 0, value NULL.
    const t1 = put("/registry/configmaps/default/a", 0, 1, 0, u1, 0, null, u1);
    // Create again: PrevKV.ModRevision is the tombstone's.
    const c2 = put("/registry/configmaps/default/a", 1, 0, 0, t1, 0, Buffer.from("three"), t1);
    put("/registry/configmaps/default/a", 0, 1, 0, c2, 0, null, c2);
    db.close();

    const r = auditKineRows(file, { repair: true })!;
    expect(r.droppedRows).toEqual([]);
    expect(r).toMatchObject({ checked: 6, dropped: 0, repaired: 0 });
  });
});
