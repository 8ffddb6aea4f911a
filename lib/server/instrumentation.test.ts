import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";

/**
 * Next.js calls instrumentation.ts's register() once when the server starts. The restore drills
 * and the wizard's watcher (which follows a confirmed restore to its end and writes its outcome to
 * the audit log) must start there, not when someone first opens a page: after a dashboard restart
 * right after a confirmation, nobody may open one for hours.
 */
const started = (name: string) => (globalThis as unknown as Record<symbol, unknown>)[Symbol.for(`lifeboat.singleton.${name}`)] !== undefined;

const saved = { ...process.env };
afterAll(() => {
  process.env = saved;
});

describe("register()", () => {
  it("starts the restore drills and the wizard's watcher with no page open", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "lifeboat-instrumentation-"));
    Object.assign(process.env, {
      NEXT_RUNTIME: "nodejs",
      LIFEBOAT_DATA_DIR: path.join(dir, "data"),
      // A store nobody answers on: the services start; their first refresh fails and says so in the log.
      AWS_S3_ENDPOINT: "http://127.0.0.1:9",
      AWS_S3_BUCKET: "instrumentation-test",
      AWS_ACCESS_KEY_ID: "test",
      AWS_SECRET_ACCESS_KEY: "test-secret",
    });
    expect(started("restore.drills")).toBe(false);
    const { register } = await import("../../instrumentation");
    await register();
    expect(started("restore.drills")).toBe(true);
    expect(started("restore.watcher")).toBe(true);
  });
});
