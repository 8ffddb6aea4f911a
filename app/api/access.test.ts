import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { ROLES, roleAllows, type Role } from "@/lib/contracts/auth";
import { routeAccess } from "@/lib/http/api-route";
import { writeRoleTokens } from "@/lib/auth/testing/tokens";

/**
 * Every route under app/api declares who may call it (apiRoute's `access`), and apiRoute enforces
 * it (lib/http/guard.ts). This test finds every route.ts, so a new route cannot land without a
 * decision: it fails when a route is not made with apiRoute, when its access differs from the table
 * below (change the table when a route's access changes on purpose), and when a route is public
 * without being public by design. Then it calls every handler as nobody, a viewer, an operator and
 * an admin and checks that exactly the roles the table allows get past the guard, and sends every
 * JSON body a route reads with an unknown field, which must be refused.
 */

const ACCESS: Record<string, Record<string, string>> = {
  "agent/backups": { POST: "operator" },
  "agent/jobs/[id]": { GET: "viewer" },
  "agent/continuous": { GET: "viewer" },
  "agent/continuous/timeline": { GET: "viewer" },
  alerts: { GET: "viewer" },
  "alerts/summary": { GET: "viewer" },
  audit: { GET: "viewer" },
  "auth/login": { POST: "public" },
  "auth/logout": { POST: "viewer" },
  "auth/me": { GET: "viewer" },
  "auth/password": { POST: "viewer" },
  backups: { GET: "viewer" },
  "backups/[id]": { GET: "viewer" },
  "backups/[id]/verify": { GET: "viewer", POST: "operator" },
  "backups/series": { GET: "viewer" },
  catalog: { GET: "viewer" },
  "catalog/refresh": { POST: "operator" },
  drills: { GET: "viewer" },
  livez: { GET: "public" },
  metrics: { GET: "viewer" },
  nodes: { GET: "viewer" },
  "nodes/[name]": { GET: "viewer", DELETE: "admin" },
  "nodes/[name]/cordon": { POST: "operator" },
  "nodes/[name]/uncordon": { POST: "operator" },
  "nodes/[name]/drain": { GET: "viewer", POST: "admin", DELETE: "admin" },
  "restore/candidates": { GET: "admin" },
  "settings/notifications": { GET: "admin", PUT: "admin" },
  "settings/notifications/channels": { POST: "admin" },
  "settings/notifications/channels/[id]": { PUT: "admin", DELETE: "admin" },
  "settings/notifications/channels/[id]/test": { POST: "admin" },
  "restore/runs": { POST: "admin" },
  "restore/runs/current": { GET: "admin" },
  "restore/runs/[id]": { GET: "admin", POST: "admin" },
  tokens: { GET: "admin", POST: "admin" },
  "tokens/[id]": { DELETE: "admin" },
  users: { GET: "admin", POST: "admin" },
  "users/[name]": { PATCH: "admin", DELETE: "admin" },
  "worker-migrations": { POST: "admin" },
  "worker-migrations/current": { GET: "admin" },
  "worker-migrations/[id]": { GET: "admin", POST: "admin" },
  "worker-migrations/[id]/token": { POST: "admin" },
  "worker-migrations/[id]/demo-join": { POST: "admin" },
};

/**
 * Every JSON body a route reads, as a body that would pass but for one unknown field (a typo, or a
 * field of another version), which the route must refuse with 400 naming the field — as the agent's
 * API does (docs/agent-api.md) — rather than drop silently: `forse` must not drain without force.
 * Nested objects too. A route that starts reading a body needs its entry here.
 */
const UNKNOWN_FIELDS: Record<string, [body: Record<string, unknown>, field: string][]> = {
  "auth/login POST": [[{ name: "admin", password: "x", passwrod: "x" }, "passwrod"]],
  "auth/password POST": [[{ current: "x", next: "a-long-new-password-1", nxt: "x" }, "nxt"]],
  "users POST": [[{ name: "ann", role: "viewer", password: "ann-password-123", rol: "admin" }, "rol"]],
  "users/[name] PATCH": [[{ role: "viewer", pasword: "x" }, "pasword"]],
  "tokens POST": [[{ name: "ci", role: "viewer", expires: "never" }, "expires"]],
  "nodes/[name] DELETE": [[{ confirm: "x-name", force: true }, "force"]],
  "nodes/[name]/drain POST": [[{ deleteEmptyDirData: false, forse: true }, "forse"]],
  "settings/notifications PUT": [[{ remindEveryHours: 4, remindEveryHour: 1 }, "remindEveryHour"]],
  "settings/notifications/channels POST": [
    [{ label: "ops", settings: { type: "slack", url: "https://hooks.example/x" }, minSeverty: "critical" }, "minSeverty"],
    [{ label: "ops", settings: { type: "webhook", url: "https://hooks.example/x", secet: "s3cret" } }, "secet"],
  ],
  "settings/notifications/channels/[id] PUT": [
    [{ label: "ops", settings: { type: "slack", url: "" }, enable: false }, "enable"],
    [{ label: "ops", settings: { type: "email", host: "mx", port: 587, security: "tls", from: "a@b.example", to: "c@d.example", pasword: "x" } }, "pasword"],
  ],
  "worker-migrations POST": [[{ node: "pi-2", force: true }, "force"]],
  "worker-migrations/[id] POST": [
    [{ action: "cordon", node: "pi-2" }, "node"],
    [{ action: "drain", options: { force: false, forse: true } }, "forse"],
    [{ action: "delete", confirm: "pi-2", force: true }, "force"],
  ],
  "restore/runs/[id] POST": [
    [{ action: "confirm", host: "pi-1", force: true }, "force"],
    [{ action: "check-target", target: { kind: "new", url: "https://10.0.0.2:7070", token: "t", fingerprnt: "AA" } }, "fingerprnt"],
    [{ action: "choose", candidate: { kind: "backup", setId: "s1", toRevison: 5 } }, "toRevison"],
    [{ action: "stage", include: { token: true, tsl: true } }, "tsl"],
  ],
};

/**
 * A numeric query parameter each route that reads its query (readQuery) takes, sent twice with
 * different values or as something other than digits: refused with 400 naming it, rather than one
 * of the values, or what Number() makes of it, taken in silence.
 */
const QUERY_PARAMS: Record<string, string> = {
  "agent/continuous/timeline GET": "segments",
  "audit GET": "limit",
  "backups GET": "limit",
  "restore/candidates GET": "limit",
};

/** The only routes anyone may call without signing in: liveness, and signing in itself. */
const PUBLIC_BY_DESIGN = new Set(["livez GET", "auth/login POST"]);

const METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
const root = path.join(import.meta.dirname);

function routeFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? routeFiles(path.join(dir, e.name)) : e.name === "route.ts" ? [path.relative(root, dir).split(path.sep).join("/")] : [],
  );
}

type Handler = (req: Request, ctx?: unknown) => Promise<Response>;
const routes: { route: string; method: string; handler: Handler; access: string | undefined }[] = [];
let tokens: Record<Role, string>;

beforeAll(async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "lifeboat-access-"));
  const t = writeRoleTokens(dir);
  tokens = t.tokens;
  // No store, agent or cluster: a handler that gets past the guard fails fast on what is missing.
  Object.assign(process.env, {
    ...t.env,
    LIFEBOAT_DATA_DIR: path.join(dir, "data"),
    AWS_S3_BUCKET: "",
    AWS_S3_ENDPOINT: "",
    LIFEBOAT_AGENT_URL: "",
    KUBECONFIG: "/nonexistent",
  });
  for (const route of routeFiles(root).sort()) {
    const mod = (await import(/* @vite-ignore */ path.join(root, route, "route.ts"))) as Record<string, unknown>;
    for (const method of METHODS.filter((m) => m in mod)) routes.push({ route, method, handler: mod[method] as Handler, access: routeAccess(mod[method]) });
  }
});

describe("app/api routes", () => {
  it("each declares its access, as the table says", () => {
    const found: Record<string, Record<string, string | undefined>> = {};
    for (const r of routes) (found[r.route] ??= {})[r.method] = r.access;
    expect(found).toEqual(ACCESS);
  });

  it("none is public unless public by design", () => {
    const open = routes.filter((r) => r.access === "public").map((r) => `${r.route} ${r.method}`);
    expect(open.filter((r) => !PUBLIC_BY_DESIGN.has(r))).toEqual([]);
  });

  it("each refuses an unknown field in its JSON body with 400 naming it", async () => {
    const reading = routes
      .filter((r) => {
        const source = readFileSync(path.join(root, r.route, "route.ts"), "utf8");
        return new RegExp(`export const ${r.method} = [^]*?(?=export const |$)`).exec(source)![0].includes("readJson(");
      })
      .map((r) => `${r.route} ${r.method}`);
    expect(Object.keys(UNKNOWN_FIELDS).sort()).toEqual(reading.sort());
    const answers: string[] = [];
    const expected: string[] = [];
    for (const r of routes) {
      for (const [body, field] of UNKNOWN_FIELDS[`${r.route} ${r.method}`] ?? []) {
        const url = "/api/" + r.route.replace(/\[(\w+)\]/g, "x-$1");
        const params = Object.fromEntries([...r.route.matchAll(/\[(\w+)\]/g)].map((m) => [m[1], `x-${m[1]}`]));
        const headers = { authorization: `Bearer ${tokens.admin}`, "content-type": "application/json" };
        const res = await r.handler(new Request(`http://127.0.0.1${url}`, { method: r.method, headers, body: JSON.stringify(body) }), {
          params: Promise.resolve(params),
        });
        const json = (await res.json().catch(() => ({}))) as { code?: string; message?: string };
        answers.push(`${r.method} ${url} ${field}: ${res.status} ${json.code} ${json.message?.includes(`"${field}"`) ? "names it" : json.message}`);
        expected.push(`${r.method} ${url} ${field}: 400 bad_request names it`);
      }
    }
    expect(answers).toEqual(expected);
  });

  it("each refuses a field given twice in its JSON body with 400 naming it", async () => {
    const answers: string[] = [];
    const expected: string[] = [];
    for (const r of routes) {
      for (const [body, unknown] of UNKNOWN_FIELDS[`${r.route} ${r.method}`] ?? []) {
        // The body without its unknown field, with its first field given again (another value where it can be).
        const fields = Object.entries(body).filter(([k]) => k !== unknown);
        const [field, value] = fields[0];
        const again = typeof value === "string" && field !== "action" ? `${value}-other` : value;
        const text = `{${[...fields, [field, again]].map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(",")}}`;
        const url = "/api/" + r.route.replace(/\[(\w+)\]/g, "x-$1");
        const params = Object.fromEntries([...r.route.matchAll(/\[(\w+)\]/g)].map((m) => [m[1], `x-${m[1]}`]));
        const headers = { authorization: `Bearer ${tokens.admin}`, "content-type": "application/json" };
        const res = await r.handler(new Request(`http://127.0.0.1${url}`, { method: r.method, headers, body: text }), { params: Promise.resolve(params) });
        const json = (await res.json().catch(() => ({}))) as { code?: string; message?: string };
        answers.push(`${r.method} ${url} ${text}: ${res.status} ${json.code} ${json.message?.includes(`"${field}"`) ? "names it" : json.message}`);
        expected.push(`${r.method} ${url} ${text}: 400 bad_request names it`);
      }
    }
    expect(answers.length).toBeGreaterThanOrEqual(Object.keys(UNKNOWN_FIELDS).length);
    expect(answers).toEqual(expected);
  });

  it("each refuses a query parameter given twice, or a number that is not plain digits, with 400 naming it", async () => {
    const source = (r: (typeof routes)[number]) =>
      new RegExp(`export const ${r.method} = [^]*?(?=export const |$)`).exec(readFileSync(path.join(root, r.route, "route.ts"), "utf8"))![0];
    const reading = routes.filter((r) => source(r).includes("readQuery(")).map((r) => `${r.route} ${r.method}`);
    expect(Object.keys(QUERY_PARAMS).sort()).toEqual(reading.sort());
    const answers: string[] = [];
    const expected: string[] = [];
    for (const r of routes) {
      const name = QUERY_PARAMS[`${r.route} ${r.method}`];
      if (!name) continue;
      // Given twice; hex, exponent, empty, a space, a sign, a fraction: z.coerce took the first five as numbers.
      for (const query of [`${name}=1&${name}=2`, `${name}=0x10`, `${name}=1e1`, `${name}=`, `${name}=%20`, `${name}=+5`, `${name}=1.5`]) {
        const url = `/api/${r.route}?${query}`;
        const res = await r.handler(new Request(`http://127.0.0.1${url}`, { headers: { authorization: `Bearer ${tokens.admin}` } }), {});
        const json = (await res.json().catch(() => ({}))) as { code?: string; message?: string };
        answers.push(`${url}: ${res.status} ${json.code} ${json.message?.includes(name) ? "names it" : json.message}`);
        expected.push(`${url}: 400 bad_request names it`);
      }
    }
    expect(answers).toEqual(expected);
  });

  it("each lets exactly the roles its access allows past the guard", async () => {
    const results: string[] = [];
    const expected: string[] = [];
    for (const r of routes) {
      const url = "/api/" + r.route.replace(/\[(\w+)\]/g, "x-$1");
      const params = Object.fromEntries([...r.route.matchAll(/\[(\w+)\]/g)].map((m) => [m[1], `x-${m[1]}`]));
      for (const role of [null, ...ROLES] as (Role | null)[]) {
        const headers: Record<string, string> = { origin: "http://127.0.0.1", "content-type": "application/json" };
        if (role) headers.authorization = `Bearer ${tokens[role]}`;
        const body = r.method === "GET" || r.method === "HEAD" ? undefined : "{}";
        const res = await r.handler(new Request(`http://127.0.0.1${url}`, { method: r.method, headers, body }), { params: Promise.resolve(params) });
        const json = (await res.json().catch(() => ({}))) as { needs?: string };
        // The guard's refusals: 401 (nobody), 403 naming the role needed. A handler's own 4xx/5xx is past the guard.
        const refused = res.status === 401 ? "signed-out" : res.status === 403 && json.needs ? "too-little" : "passed";
        results.push(`${r.method} ${url} as ${role ?? "nobody"}: ${refused}`);
        const allowed = r.access === "public" || (role !== null && roleAllows(role, r.access as Role));
        expected.push(`${r.method} ${url} as ${role ?? "nobody"}: ${allowed ? "passed" : role ? "too-little" : "signed-out"}`);
      }
    }
    expect(results).toEqual(expected);
  }, 120_000);
});
