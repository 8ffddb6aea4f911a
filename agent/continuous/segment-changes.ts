import type { TimelineChange } from "../../lib/contracts/continuous";
import { CHURN, keyType } from "../restore/diff";
import { forEachStatement } from "./segment-format";

/**
 * The objects a segment's text changes, by revision, for the timeline: read from each INSERT
 * (segment-format.ts) up to the value, so no value is ever parsed or kept. Names only.
 */

export interface SegmentChanges {
  changes: TimelineChange[];
  /** Rows of types k3s rewrites all the time (leases, events): counted only. */
  churn: number;
  /** Every row the text holds. */
  rows: number;
}

// The start of every row's statement (sticky: at the position given); the name is a SQL string ('' for a quote). Values follow and are not read.
const ROW = /INSERT INTO kine\(id,name,created,deleted,create_revision,prev_revision,lease,value,old_value\) SELECT (\d+),'((?:[^']|'')*)',(-?\d+),(-?\d+),/y;

/** kine's key as kind/namespace/name: `/registry/deployments/default/web` → deployments, default, web. */
export function objectOfKey(key: string): { kind: string; namespace: string | null; name: string } | null {
  const kind = keyType(key);
  if (kind === null) return null;
  const parts = key.split("/");
  if (parts[1] !== "registry") return { kind, namespace: null, name: key };
  // Custom resources (`/registry/<group>/<resource>/…`) and services/specs carry one more path segment before the object's own.
  const skip = kind.includes(".") || (parts[2] === "services" && (parts[3] === "specs" || parts[3] === "endpoints")) ? 4 : 3;
  const rest = parts.slice(skip);
  if (rest.length >= 2) return { kind, namespace: rest[0], name: rest.slice(1).join("/") };
  return { kind, namespace: null, name: rest.join("/") || key };
}

/**
 * Reads the changes of one segment's text whose revisions are `first`..`last`, statement by
 * statement: a value is stepped over as a string, so text inside one (a ConfigMap holding a line that
 * looks like a row) is never taken for a row. Ids must rise and stay in the range.
 */
export function segmentChanges(sql: string, first: number, last: number, maxListed: number): SegmentChanges & { omitted: number } {
  const changes: TimelineChange[] = [];
  let churn = 0;
  let rows = 0;
  let omitted = 0;
  let prev = first - 1;
  forEachStatement(sql, (start) => {
    ROW.lastIndex = start;
    const m = ROW.exec(sql);
    if (!m) return;
    const id = Number(m[1]);
    if (id <= prev || id > last) return;
    prev = id;
    rows++;
    const key = m[2].replaceAll("''", "'");
    const obj = objectOfKey(key);
    if (!obj) return;
    if (CHURN.has(obj.kind)) {
      churn++;
      return;
    }
    if (changes.length >= maxListed) {
      omitted++;
      return;
    }
    const change = m[4] !== "0" ? "deleted" : m[3] !== "0" ? "created" : "updated";
    changes.push({ revision: id, change, ...obj });
  });
  return { changes, churn, rows, omitted };
}
