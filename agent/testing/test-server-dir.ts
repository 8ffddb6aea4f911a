import { mkdirSync, writeFileSync, symlinkSync, chmodSync } from "node:fs";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { generateKineDb, type GeneratedDb } from "../kine/generator";

/** A k3s server directory for tests: db/state.db (kine, WAL mode), token, node-token link, cred/, tls/. */
export interface TestServerDir {
  serverDir: string;
  dbPath: string;
  token: string;
  generated: GeneratedDb;
}

/**
 * Builds a server dir below `root` like a k3s server's, with a generated kine database of `targetBytes`
 * whose compaction stalled (a healthy simulated cluster stays a few MB, so only a stalled one reaches
 * an arbitrary size).
 */
export function makeTestServerDir(root: string, opts: { targetBytes?: number; seed?: number } = {}): TestServerDir {
  const serverDir = path.join(root, "server");
  mkdirSync(path.join(serverDir, "db"), { recursive: true, mode: 0o700 });
  const dbPath = path.join(serverDir, "db", "state.db");
  const generated = generateKineDb(dbPath, { targetBytes: opts.targetBytes ?? 3_000_000, compaction: "stuck", keepWal: true, seed: opts.seed ?? 11 });
  writeFileSync(path.join(serverDir, "token"), generated.token + "\n", { mode: 0o600 });
  symlinkSync("token", path.join(serverDir, "node-token")); // k3s's node-token is a link to token
  mkdirSync(path.join(serverDir, "cred"), { mode: 0o700 });
  writeFileSync(path.join(serverDir, "cred", "passwd"), "s3cr3t,admin,admin,system:masters\n", { mode: 0o600 });
  writeFileSync(path.join(serverDir, "cred", "ipsec.psk"), "psk-value\n", { mode: 0o600 });
  mkdirSync(path.join(serverDir, "tls", "temporary-certs"), { recursive: true });
  writeFileSync(path.join(serverDir, "tls", "server-ca.crt"), "-----BEGIN CERTIFICATE-----\nfake\n-----END CERTIFICATE-----\n", { mode: 0o644 });
  writeFileSync(path.join(serverDir, "tls", "server-ca.key"), "-----BEGIN EC PRIVATE KEY-----\nfake\n-----END EC PRIVATE KEY-----\n", { mode: 0o600 });
  writeFileSync(path.join(serverDir, "tls", "temporary-certs", "apiserver-loopback-client__.crt"), "cert\n", { mode: 0o644 });
  // A name longer than 100 bytes needs a PAX header in the tar.
  writeFileSync(path.join(serverDir, "tls", "temporary-certs", `${"x".repeat(120)}.crt`), "long name\n", { mode: 0o640 });
  symlinkSync("/etc/passwd", path.join(serverDir, "tls", "dangling-link")); // must not be archived
  chmodSync(path.join(serverDir, "tls"), 0o700);
  return { serverDir, dbPath, token: generated.token, generated };
}

const gnupgHomes = new Set<string>();

/** Remembers a GNUPGHOME a test used, so its gpg-agent can be stopped afterwards. */
export function useGnupgHome(home: string): string {
  gnupgHomes.add(home);
  return home;
}

/** Stops the gpg-agent daemons that gpg started for the remembered homes (they outlive the test otherwise). */
export function stopGpgAgents(): void {
  for (const home of gnupgHomes) spawnSync("gpgconf", ["--homedir", home, "--kill", "gpg-agent"], { stdio: "ignore" });
  gnupgHomes.clear();
}
