/**
 * The three PATCH flavours the Kubernetes API accepts for JSON bodies, implemented for the test API
 * server: JSON merge patch (RFC 7386), strategic merge patch (merge patch + list merge keys and
 * `$patch` directives), and JSON patch (RFC 6902). Pure; each returns a new object.
 */

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Obj = { [k: string]: Json };

const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const clone = <T>(v: T): T => (v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T));

/** An invalid patch; the server answers 422 (or 400 for a malformed document) with its message. */
export class PatchError extends Error {
  constructor(
    message: string,
    readonly status: 400 | 422 = 422,
  ) {
    super(message);
    this.name = "PatchError";
  }
}

/** RFC 7386: objects merge recursively, `null` removes a key, anything else replaces. */
export function jsonMergePatch(target: unknown, patch: unknown): Json {
  if (!isObj(patch)) return clone(patch as Json);
  const out: Obj = isObj(target) ? clone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = jsonMergePatch(out[k], v);
  }
  return out;
}

/**
 * Lists that strategic merge patch merges element by element, keyed by a field, for the kinds the
 * test server serves (from the `patchMergeKey` tags of k8s.io/api). Paths use "." between fields.
 */
const MERGE_KEYS: Record<string, string> = {
  "status.conditions": "type",
  "status.addresses": "type",
  "metadata.ownerReferences": "uid",
  "spec.containers": "name",
  "spec.initContainers": "name",
  "spec.volumes": "name",
  "spec.tolerations": "", // atomic in the API; listed so nobody adds a key by mistake
};
/** Primitive lists with `patchStrategy:"merge"` (union instead of replace). */
const SET_LISTS = new Set(["metadata.finalizers"]);

/** Strategic merge patch as the API server applies it to core objects (nodes, pods). */
export function strategicMergePatch(target: unknown, patch: unknown, path = ""): Json {
  if (!isObj(patch)) return clone(patch as Json);
  if (patch.$patch === "replace") {
    const rest = { ...patch };
    delete rest.$patch;
    return clone(rest);
  }
  if (patch.$patch === "delete") return null;
  if (patch.$patch !== undefined) throw new PatchError(`Unknown patch type: ${String(patch.$patch)}`);
  const out: Obj = isObj(target) ? clone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (k.startsWith("$setElementOrder/") || k === "$retainKeys") continue;
    if (k.startsWith("$deleteFromPrimitiveList/")) {
      const field = k.slice("$deleteFromPrimitiveList/".length);
      if (Array.isArray(out[field]) && Array.isArray(v)) out[field] = (out[field] as Json[]).filter((x) => !v.includes(x));
      continue;
    }
    const p = path ? `${path}.${k}` : k;
    if (v === null) {
      delete out[k];
    } else if (Array.isArray(v)) {
      const key = MERGE_KEYS[p];
      if (key) out[k] = mergeKeyedList(Array.isArray(out[k]) ? (out[k] as Json[]) : [], v, key, p);
      else if (SET_LISTS.has(p)) out[k] = [...new Set([...(Array.isArray(out[k]) ? (out[k] as Json[]) : []), ...v])];
      else out[k] = clone(v);
    } else if (isObj(v)) {
      const merged = strategicMergePatch(out[k], v, p);
      if (merged === null) delete out[k];
      else out[k] = merged;
    } else {
      out[k] = v;
    }
  }
  return out;
}

function mergeKeyedList(current: Json[], patch: Json[], key: string, path: string): Json[] {
  const out = clone(current);
  for (const el of patch) {
    if (!isObj(el) || !(key in el)) throw new PatchError(`map: ${JSON.stringify(el)} does not contain declared merge key: ${key} (${path})`);
    const i = out.findIndex((x) => isObj(x) && x[key] === el[key]);
    if (el.$patch === "delete") {
      if (i >= 0) out.splice(i, 1);
    } else if (i >= 0) {
      out[i] = strategicMergePatch(out[i], el, path);
    } else {
      out.push(strategicMergePatch({}, el, path));
    }
  }
  return out;
}

interface Op {
  op: string;
  path: string;
  value?: Json;
  from?: string;
}

const pointer = (p: string): string[] => {
  if (p === "") return [];
  if (!p.startsWith("/")) throw new PatchError(`JSON pointer must start with '/': ${p}`);
  return p
    .slice(1)
    .split("/")
    .map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"));
};

const parentOf = (doc: Json, parts: string[], p: string): Obj | Json[] => {
  let cur: Json = doc;
  for (const seg of parts.slice(0, -1)) {
    if (Array.isArray(cur)) cur = cur[Number(seg)];
    else if (isObj(cur)) cur = cur[seg];
    else cur = undefined as unknown as Json;
    if (cur === undefined) throw new PatchError(`doc is missing path: "${p}": missing value`);
  }
  if (!Array.isArray(cur) && !isObj(cur)) throw new PatchError(`doc is missing path: "${p}": missing value`);
  return cur;
};

const getAt = (doc: Json, p: string): Json => {
  let cur: Json = doc;
  for (const seg of pointer(p)) {
    cur = Array.isArray(cur) ? cur[Number(seg)] : isObj(cur) ? cur[seg] : (undefined as unknown as Json);
    if (cur === undefined) throw new PatchError(`doc is missing path: "${p}": missing value`);
  }
  return cur;
};

/** RFC 6902 JSON patch: add, remove, replace, move, copy, test. Throws PatchError on a bad operation. */
export function jsonPatch(target: unknown, ops: unknown): Json {
  if (!Array.isArray(ops)) throw new PatchError("a JSON patch must be an array of operations", 400);
  let doc = clone(target as Json);
  for (const raw of ops as Op[]) {
    if (!isObj(raw as unknown) || typeof raw.op !== "string" || typeof raw.path !== "string")
      throw new PatchError("each JSON patch operation needs 'op' and 'path'", 400);
    const parts = pointer(raw.path);
    const set = (value: Json) => {
      if (parts.length === 0) return void (doc = clone(value));
      const parent = parentOf(doc, parts, raw.path);
      const last = parts[parts.length - 1];
      if (Array.isArray(parent)) {
        const idx = last === "-" ? parent.length : Number(last);
        if (!Number.isInteger(idx) || idx < 0 || idx > parent.length) throw new PatchError(`index out of range: ${raw.path}`);
        parent.splice(idx, 0, clone(value));
      } else parent[last] = clone(value);
    };
    const remove = (p: string[], shown: string) => {
      const parent = parentOf(doc, p, shown);
      const last = p[p.length - 1];
      if (Array.isArray(parent)) {
        const idx = Number(last);
        if (!(idx >= 0 && idx < parent.length)) throw new PatchError(`doc is missing path: "${shown}": missing value`);
        parent.splice(idx, 1);
      } else {
        if (!(last in parent)) throw new PatchError(`doc is missing path: "${shown}": missing value`);
        delete parent[last];
      }
    };
    switch (raw.op) {
      case "add":
        set(raw.value as Json);
        break;
      case "remove":
        remove(parts, raw.path);
        break;
      case "replace":
        getAt(doc, raw.path);
        if (parts.length === 0) doc = clone(raw.value as Json);
        else {
          const parent = parentOf(doc, parts, raw.path);
          const last = parts[parts.length - 1];
          if (Array.isArray(parent)) parent[Number(last)] = clone(raw.value as Json);
          else parent[last] = clone(raw.value as Json);
        }
        break;
      case "move": {
        const v = getAt(doc, raw.from ?? "");
        remove(pointer(raw.from ?? ""), raw.from ?? "");
        set(v);
        break;
      }
      case "copy":
        set(getAt(doc, raw.from ?? ""));
        break;
      case "test":
        if (JSON.stringify(getAt(doc, raw.path)) !== JSON.stringify(raw.value)) throw new PatchError(`testing value ${raw.path} failed`);
        break;
      default:
        throw new PatchError(`Unexpected kind: ${raw.op}`, 400);
    }
  }
  return doc;
}
