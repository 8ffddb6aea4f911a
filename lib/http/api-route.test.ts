import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { DomainError } from "../contracts/errors";
import { requestAs, writeRoleTokens } from "../auth/testing/tokens";
import { apiRoute, readJson, routeAccess } from "./api-route";

let tokens: ReturnType<typeof writeRoleTokens>["tokens"];
beforeAll(() => {
  const dir = mkdtempSync(path.join(tmpdir(), "lifeboat-api-route-"));
  const t = writeRoleTokens(dir);
  tokens = t.tokens;
  Object.assign(process.env, { ...t.env, LIFEBOAT_DATA_DIR: path.join(dir, "data") });
});

const call = async (fn: (req: Request) => unknown, req = requestAs(tokens, "viewer", "/api/x", { method: "POST", body: "{}" })) => {
  const res = await apiRoute({ access: "viewer" }, async (r) => {
    await fn(r);
    return Response.json({ ok: true });
  })(req);
  return { status: res.status, body: await res.json() };
};

describe("apiRoute", () => {
  it("records the access on the handler", () => {
    expect(routeAccess(apiRoute({ access: "admin" }, () => new Response()))).toBe("admin");
    expect(routeAccess(async () => new Response())).toBeUndefined();
  });

  it("answers a DomainError with its status, code, sentence and details", async () => {
    expect(await call(() => Promise.reject(new DomainError("restore_active", "A restore is running.", { details: { runId: "r1" } })))).toEqual({
      status: 409,
      body: { code: "restore_active", message: "A restore is running.", runId: "r1" },
    });
  });

  it("answers bad JSON, a schema's refusal and anything else", async () => {
    const bad = requestAs(tokens, "viewer", "/api/x", { method: "POST", body: "{" });
    expect(await call((r) => readJson(r, z.object({})), bad)).toMatchObject({ status: 400, body: { code: "bad_json" } });
    expect(await call(() => z.object({ n: z.number() }).parse({ n: "x" }))).toMatchObject({
      status: 400,
      body: { code: "bad_request", message: expect.stringMatching(/^n: /) },
    });
    expect(await call(() => Promise.reject(new Error("secret detail")))).toEqual({
      status: 500,
      body: { code: "internal", message: "Internal error in the dashboard server; see its log." },
    });
  });

  it("reads only JSON bodies", async () => {
    const text = requestAs(tokens, "viewer", "/api/x", { method: "POST", body: "{}", headers: { "content-type": "text/plain" } });
    expect(await call((r) => readJson(r, z.object({})), text)).toMatchObject({ status: 415, body: { code: "unsupported_media_type" } });
  });

  it("refuses a streamed body past 1 MiB without reading the rest", async () => {
    let pulled = 0;
    // No Content-Length (a chunked upload): the reader must stop on its own, not at the end.
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled++;
        controller.enqueue(new Uint8Array(64 * 1024));
        if (pulled > 1000) controller.close();
      },
    });
    const req = requestAs(tokens, "viewer", "/api/x", { method: "POST", body, duplex: "half" } as RequestInit);
    expect(await call((r) => readJson(r, z.object({})), req)).toMatchObject({ status: 413, body: { code: "body_too_large" } });
    expect(pulled).toBeLessThan(20);
  });
});
