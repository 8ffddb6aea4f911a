import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";

/**
 * Every route handler under app/api with its exported methods, found the way Next.js finds them
 * (route.ts files, `export const <METHOD>`), so a browser test that attacks "every state-changing
 * route" also attacks the ones added after it was written.
 */
export interface ApiRoute {
  /** e.g. "nodes/[name]/cordon" */
  route: string;
  methods: string[];
}

const ROOT = path.resolve("app", "api");

export function apiRoutes(dir = ROOT): ApiRoute[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return apiRoutes(p);
    if (e.name !== "route.ts") return [];
    const text = readFileSync(p, "utf8");
    const methods = [...text.matchAll(/export const (GET|HEAD|POST|PUT|PATCH|DELETE)\b/g)].map((m) => m[1]);
    return [{ route: path.relative(ROOT, dir).split(path.sep).join("/"), methods }];
  });
}

/** The routes' state-changing methods as `METHOD /api/path`, each `[param]` filled by `param(route, name)`. */
export function stateChangingCalls(param: (route: string, name: string) => string): { method: string; path: string }[] {
  return apiRoutes()
    .flatMap((r) => r.methods.filter((m) => m !== "GET" && m !== "HEAD").map((method) => ({ method, route: r.route })))
    .map(({ method, route }) => ({
      method,
      path: "/api/" + route.replace(/\[(\w+)\]/g, (_, k: string) => encodeURIComponent(param(route, k))),
    }));
}
