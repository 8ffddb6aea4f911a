import { describe, expect, it } from "vitest";
import { z } from "zod";
import { DomainError } from "../contracts/errors";
import { apiRoute, readJson, routeAccess } from "./api-route";

const call = async (fn: () => unknown, req = new Request("http://dash/api/x", { method: "POST", body: "{}" })) => {
  const res = await apiRoute({ access: "viewer" }, async () => {
    await fn();
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
    const bad = new Request("http://dash/api/x", { method: "POST", body: "{" });
    expect(await call((r = bad) => readJson(r, z.object({})), bad)).toMatchObject({ status: 400, body: { code: "bad_json" } });
    expect(await call(() => z.object({ n: z.number() }).parse({ n: "x" }))).toMatchObject({
      status: 400,
      body: { code: "bad_request", message: expect.stringMatching(/^n: /) },
    });
    expect(await call(() => Promise.reject(new Error("secret detail")))).toEqual({
      status: 500,
      body: { code: "internal", message: "Internal error in the dashboard server; see its log." },
    });
  });
});
