import { spawnSync } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { expect, it } from "vitest";

// The installed agent's bundle (agent/bin/build-agent.mjs), as the bin builds it when it is missing or stale.
const ROOT = path.resolve(import.meta.dirname, "../..");

/** The chunks a chunk imports statically (esbuild writes them as `from"./chunk-….js"`): loaded with it, unlike `import("./….js")`. */
function staticClosure(dir: string, entry: string): Set<string> {
  const seen = new Set<string>([entry]);
  const todo = [entry];
  while (todo.length) {
    const text = readFileSync(path.join(dir, todo.pop()!), "utf8");
    for (const m of text.matchAll(/from\s*"\.\/([^"]+\.js)"/g))
      if (!seen.has(m[1])) {
        seen.add(m[1]);
        todo.push(m[1]);
      }
  }
  return seen;
}

it("loads the AWS SDK's other credential sources (STS, SSO) only when they are used, not with the S3 client", () => {
  // esbuild takes the SDK's ES module builds (mainFields), which import those providers with
  // import(): they become chunks of their own. From the CommonJS builds, require() put them, and the
  // STS, SSO and sign-in clients, in the S3 client's chunk, loaded (and held) by every backup.
  const built = spawnSync(process.execPath, [path.join(ROOT, "agent/bin/lifeboat-agent.js"), "--version"], { encoding: "utf8" });
  expect(built.status, built.stderr).toBe(0);
  const dir = path.join(ROOT, "agent/dist", readFileSync(path.join(ROOT, "agent/dist/current"), "utf8").trim());
  const js = readdirSync(dir).filter((f) => f.endsWith(".js"));
  const client = js.filter(
    (f) => /\bS3Client\b/.test(readFileSync(path.join(dir, f), "utf8")) && /\bPutObjectCommand\b/.test(readFileSync(path.join(dir, f), "utf8")),
  );
  expect(client.length).toBeGreaterThan(0);
  const sts = js.filter((f) => readFileSync(path.join(dir, f), "utf8").includes("AssumeRoleWithWebIdentity"));
  expect(sts.length).toBeGreaterThan(0); // still in the bundle, for a host whose credentials come from STS
  for (const c of client) for (const f of staticClosure(dir, c)) expect(sts, `${c} loads ${f}`).not.toContain(f);
}, 60_000);
