// `npm run bench:auth`: what signing in costs the dashboard.
//
//   - a password's scrypt hash (N=2^15, r=8): slow on purpose, so a stolen lifeboat.db is slow to guess
//     from; it is paid once per sign-in, never per request;
//   - the guard every API request passes (lib/http/guard.ts: Host, body size, caller, same origin,
//     role) with a session cookie and with an API token, against the same handler without it
//     (baseline, same run): the ratio is the guard's whole cost.
// In-process (no HTTP), on a throw-away lifeboat.db.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

const dir = mkdtempSync(path.join(tmpdir(), "lifeboat-bench-auth-"));
const TOKEN = "bench-operator-token-0123456789abcdefghij";
writeFileSync(path.join(dir, "tokens"), `operator ${TOKEN}\n`);
writeFileSync(path.join(dir, "admin-password"), "bench-admin-password-1\n");
Object.assign(process.env, {
  LIFEBOAT_DATA_DIR: path.join(dir, "data"),
  LIFEBOAT_API_TOKENS_FILE: path.join(dir, "tokens"),
  LIFEBOAT_ADMIN_PASSWORD_FILE: path.join(dir, "admin-password"),
  LOG_LEVEL: "silent",
});

const { apiRoute } = await import("../lib/http/api-route");
const { authService } = await import("../lib/auth");
const { signIn } = await import("../lib/auth/accounts");
const { hashPassword } = await import("../lib/auth/passwords");

const N = Number(process.env.BENCH_REQUESTS || 20_000);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

async function perCall(make: () => Request, handler: (r: Request) => Promise<Response>): Promise<number> {
  for (let i = 0; i < 500; i++) await handler(make()); // warm up
  const runs: number[] = [];
  for (let round = 0; round < 5; round++) {
    const t = performance.now();
    for (let i = 0; i < N / 5; i++) {
      const res = await handler(make());
      if (res.status !== 200) throw new Error(`answered ${res.status}: ${await res.text()}`);
    }
    runs.push(((performance.now() - t) * 1000) / (N / 5));
  }
  return median(runs);
}

const hashes: number[] = [];
for (let i = 0; i < 7; i++) {
  const t = performance.now();
  await hashPassword(`a password of some length ${i}`);
  hashes.push(performance.now() - t);
}

const session = await signIn(authService(), "admin", "bench-admin-password-1");
const body = () => Response.json({ ok: true });
const bare = async () => body();
const guarded = apiRoute({ access: "viewer" }, body);
const get = (headers: Record<string, string>) => () => new Request("http://127.0.0.1:3000/api/x", { headers: { host: "127.0.0.1:3000", ...headers } });

const baseline = await perCall(get({}), bare);
const withSession = await perCall(get({ cookie: `lifeboat-session=${session.id}` }), guarded);
const withToken = await perCall(get({ authorization: `Bearer ${TOKEN}` }), guarded);

const us = (v: number) => `${v.toFixed(1).padStart(7)} µs`;
console.log(`auth benchmark (${N.toLocaleString("en-US")} calls each, median of 5 rounds)`);
console.log(`  scrypt hash of a password (N=2^15, r=8)        ${median(hashes).toFixed(0).padStart(7)} ms  (once per sign-in)`);
console.log(`  baseline  handler alone                        ${us(baseline)}`);
console.log(
  `  guarded   session cookie                       ${us(withSession)}  ${(withSession / baseline).toFixed(1)}× the baseline, +${(withSession - baseline).toFixed(1)} µs`,
);
console.log(
  `  guarded   API token                            ${us(withToken)}  ${(withToken / baseline).toFixed(1)}× the baseline, +${(withToken - baseline).toFixed(1)} µs`,
);
process.exit(0);
