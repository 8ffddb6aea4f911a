import { readdirSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { routeAccess } from "@/lib/http/api-route";

/**
 * Every route under app/api declares who may call it (apiRoute's `access`), so the accounts issue
 * can enforce it in one place and a new route cannot land without a decision. The table is the
 * access each route has today; change it here when a route's access changes on purpose.
 */

const ACCESS: Record<string, Record<string, string>> = {
  "agent/backups": { POST: "operator" },
  "agent/jobs/[id]": { GET: "viewer" },
  alerts: { GET: "viewer" },
  "alerts/summary": { GET: "viewer" },
  audit: { GET: "viewer" },
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
  "worker-migrations": { POST: "admin" },
  "worker-migrations/current": { GET: "admin" },
  "worker-migrations/[id]": { GET: "admin", POST: "admin" },
  "worker-migrations/[id]/token": { POST: "admin" },
};

const METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
const root = path.join(import.meta.dirname);

function routeFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? routeFiles(path.join(dir, e.name)) : e.name === "route.ts" ? [path.relative(root, dir).split(path.sep).join("/")] : [],
  );
}

describe("app/api routes", () => {
  it("each declares its access, as the table says", async () => {
    const found: Record<string, Record<string, string | undefined>> = {};
    for (const route of routeFiles(root).sort()) {
      const mod = (await import(/* @vite-ignore */ path.join(root, route, "route.ts"))) as Record<string, unknown>;
      found[route] = Object.fromEntries(METHODS.filter((m) => m in mod).map((m) => [m, routeAccess(mod[m])]));
    }
    expect(found).toEqual(ACCESS);
  });
});
