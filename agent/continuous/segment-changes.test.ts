import { describe, expect, it } from "vitest";
import { formatSegment, type KineRow } from "./segment-format";
import { objectOfKey, segmentChanges } from "./segment-changes";

/** The timeline's reading of a segment's text, on texts the real formatter writes. */

const row = (id: number, name: string, value: string | Buffer | null, flags: { created?: boolean; deleted?: boolean } = {}): KineRow => ({
  id,
  name,
  created: flags.created ? 1 : 0,
  deleted: flags.deleted ? 1 : 0,
  create_revision: 3,
  prev_revision: id - 1,
  lease: 0,
  value: typeof value === "string" ? Buffer.from(value) : value,
  old_value: null,
  oldValueRebuildable: true,
});

const header = (first: number, last: number) => ({ generation: "20261203T120000Z", first, last, compactRevision: 0, readAt: "2026-12-03T12:00:10.000Z" });

describe("objectOfKey", () => {
  it("shows kine keys as kind/namespace/name", () => {
    expect(objectOfKey("/registry/deployments/default/web")).toEqual({ kind: "deployments", namespace: "default", name: "web" });
    expect(objectOfKey("/registry/minions/node-1")).toEqual({ kind: "minions", namespace: null, name: "node-1" });
    expect(objectOfKey("/registry/services/specs/default/kubernetes")).toEqual({ kind: "services", namespace: "default", name: "kubernetes" });
    expect(objectOfKey("/registry/traefik.io/ingressroutes/apps/r1")).toEqual({ kind: "ingressroutes.traefik.io", namespace: "apps", name: "r1" });
    expect(objectOfKey("compact_rev_key")).toBeNull();
  });
});

describe("segmentChanges", () => {
  it("reads each row's name and kind of change, counts leases and events, and never takes a value's text for a row", async () => {
    // A ConfigMap whose data holds newlines, quotes, semicolons and a line that looks like a row of the segment.
    // A ConfigMap whose data holds newlines, quotes, semicolons and a line that, once its quotes are
    // doubled in the segment's SQL string, still reads like a row at revision 12 to a line-by-line reader.
    const fake = `a;\nINSERT INTO kine(id,name,created,deleted,create_revision,prev_revision,lease,value,old_value) SELECT 12,'',0,0,0,0,0,NULL,NULL WHERE 1;\nit's;`;
    const sql = formatSegment(header(10, 14), [
      row(10, "/registry/configmaps/apps/tricky", fake, { created: true }),
      row(11, "/registry/leases/kube-system/k3s", "{}"),
      row(12, "/registry/deployments/default/o'brien", Buffer.from([0, 1, 2, 0x27, 0x0a])),
      row(13, "/registry/deployments/default/web", null, { deleted: true }),
      row(14, "/registry/events/apps/e1", "{}", { created: true }),
    ]);
    expect(sql).toContain("\nINSERT INTO kine(id,name,created,deleted,create_revision,prev_revision,lease,value,old_value) SELECT 12,'''',0,0,");
    const r = segmentChanges(sql, 10, 14, 100);
    expect(r.rows).toBe(5);
    expect(r.churn).toBe(2);
    expect(r.changes).toEqual([
      { revision: 10, change: "created", kind: "configmaps", namespace: "apps", name: "tricky" },
      { revision: 12, change: "updated", kind: "deployments", namespace: "default", name: "o'brien" },
      { revision: 13, change: "deleted", kind: "deployments", namespace: "default", name: "web" },
    ]);
  });

  it("lists at most maxListed changes and counts the rest", () => {
    const rows = Array.from({ length: 5 }, (_, i) => row(20 + i, `/registry/configmaps/apps/c${i}`, "{}"));
    const r = segmentChanges(formatSegment(header(20, 24), rows), 20, 24, 2);
    expect(r.changes.map((c) => c.revision)).toEqual([20, 21]);
    expect(r.omitted).toBe(3);
  });
});
