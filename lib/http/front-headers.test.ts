import path from "node:path";
import { pathToFileURL } from "node:url";
import type { NextConfig } from "next";
import { describe, expect, it } from "vitest";
import { FRONT_HEADERS } from "./front-headers";

/**
 * The answers the dashboard's front makes itself (400 for a path that does not decode, 413) never
 * reach Next.js, so they carry a copy of next.config.js's headers. A header added to one list and
 * not the other went unnoticed before (the front's answers lacked Cross-Origin-Opener-Policy).
 */
describe("the front's own answers", () => {
  it("carry every header next.config.js gives an API answer, and only those (plus cache-control)", async () => {
    const file = pathToFileURL(path.join(import.meta.dirname, "..", "..", "next.config.js")).href;
    const nextConfig = ((await import(file)) as { default: NextConfig }).default;
    const rules = await nextConfig.headers!();
    const forApi = rules.filter((r) => r.source === "/:path*" || r.source === "/api/:path*");
    expect(forApi.length).toBe(2);
    const expected: Record<string, string> = { "cache-control": "no-store" };
    for (const r of forApi) for (const h of r.headers) expected[h.key.toLowerCase()] = h.value;
    expect(FRONT_HEADERS).toEqual(expected);
  });
});
