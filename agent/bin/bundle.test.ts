import { spawnSync } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { expect, it } from "vitest";

// The installed agent's bundle (agent/bin/build-agent.mjs), as the bin builds it when it is missing or stale.
const ROOT = path.resolve(import.meta.dirname, "../..");

/** The chunks a chunk imports statically (esbuild writes them as `from"./chunk-….js"`): loaded with it, unlike `import("./….js")`. */
function staticClosure(files: Map<string, string>, entry: string): Set<string> {
  const seen = new Set<string>([entry]);
  const todo = [entry];
  while (todo.length) {
    const text = files.get(todo.pop()!) ?? "";
    for (const m of text.matchAll(/from\s*"\.\/([^"]+\.js)"/g))
      if (!seen.has(m[1])) {
        seen.add(m[1]);
        todo.push(m[1]);
      }
  }
  return seen;
}

/** The bundle's JavaScript files and their text, built as the bin builds them. */
function currentBuild(): Map<string, string> {
  const built = spawnSync(process.execPath, [path.join(ROOT, "agent/bin/lifeboat-agent.js"), "--version"], { encoding: "utf8" });
  expect(built.status, built.stderr).toBe(0);
  const dir = path.join(ROOT, "agent/dist", readFileSync(path.join(ROOT, "agent/dist/current"), "utf8").trim());
  return new Map(
    readdirSync(dir)
      .filter((f) => f.endsWith(".js"))
      .map((f) => [f, readFileSync(path.join(dir, f), "utf8")]),
  );
}

it("loads the AWS SDK's other credential sources (STS, SSO) only when they are used, not with the S3 client", () => {
  // esbuild takes the SDK's ES module builds (mainFields), which import those providers with
  // import(): they become chunks of their own. From the CommonJS builds, require() put them, and the
  // STS, SSO and sign-in clients, in the S3 client's chunk, loaded (and held) by every backup.
  const files = currentBuild();
  const named = (test: (text: string) => boolean) => [...files].filter(([, text]) => test(text)).map(([f]) => f);
  const client = named((text) => /\bS3Client\b/.test(text) && /\bPutObjectCommand\b/.test(text));
  expect(client.length).toBeGreaterThan(0);
  const sts = named((text) => text.includes("AssumeRoleWithWebIdentity"));
  expect(sts.length).toBeGreaterThan(0); // still in the bundle, for a host whose credentials come from STS
  for (const c of client) for (const f of staticClosure(files, c)) expect(sts, `${c} loads ${f}`).not.toContain(f);
}, 60_000);

it("holds zod's English messages and none of its other locales", () => {
  // build-agent.mjs's zodLocales: `z.locales` and `z.core.locales` keep `en` only (zod's own default).
  const text = [...currentBuild().values()].join("\n");
  expect(text.includes("Invalid input: expected"), "zod's English messages").toBe(true);
  expect(text.includes("Nieprawid"), "zod's Polish messages (pl.js)").toBe(false);
  expect(text.includes("Entrada inv"), "zod's Spanish messages (es.js)").toBe(false);
}, 60_000);
