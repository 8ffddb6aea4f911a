import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

/** Debian packages the tests rely on, and the command each provides. */
export const REQUIRED_TOOLS = [
  { command: "chromium", pkg: "chromium", why: "browser tests (Playwright drives Debian's Chromium)" },
  { command: "sqlite3", pkg: "sqlite3", why: "independent integrity checks and the .dump recovery rung" },
  { command: "gpg", pkg: "gnupg", why: "proving archives open with plain gpg" },
  { command: "zstd", pkg: "zstd", why: "proving archives open with plain zstd" },
  { command: "tar", pkg: "tar", why: "proving archives unpack with plain tar" },
  { command: "openssl", pkg: "openssl", why: "the test Kubernetes API server's self-signed CA" },
  { command: "promtool", pkg: "prometheus", why: "checking and unit-testing the shipped Prometheus rules (promtool check/test rules)" },
  { command: "strace", pkg: "strace", why: "the durability test traces a restore's renames and fsyncs" },
  { command: "kubectl", pkg: "kubernetes-client", why: "the real kubectl cross-checks the test Kubernetes API server" },
  { command: "systemd-analyze", pkg: "systemd", why: "systemd-analyze verify checks the shipped systemd units (deploy/)" },
] as const;

export function hasCommand(cmd: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" }).status === 0;
}

/** The path of Debian's Chromium, or undefined. */
export function chromiumPath(): string | undefined {
  for (const p of [process.env.CHROMIUM_PATH, "/usr/bin/chromium", "/usr/bin/chromium-browser"]) if (p && existsSync(p)) return p;
  return undefined;
}

/**
 * Makes sure the system tools are present: installs missing ones with apt-get when running as root,
 * otherwise returns the exact command the user must run. Returns null when all is there.
 */
export function ensureSystemTools(log: (s: string) => void = console.log): string | null {
  const missing = REQUIRED_TOOLS.filter((t) => (t.command === "chromium" ? !chromiumPath() : !hasCommand(t.command)));
  if (missing.length === 0) return null;
  const pkgs = missing.map((t) => t.pkg);
  const cmd = `apt-get install -y ${pkgs.join(" ")}`;
  for (const t of missing) log(`missing: ${t.command} (${t.why})`);
  if (process.getuid?.() === 0 && hasCommand("apt-get")) {
    log(`installing: ${cmd}`);
    execFileSync("apt-get", ["update", "-qq"], { stdio: "inherit", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
    execFileSync("apt-get", ["install", "-y", "-qq", ...pkgs], { stdio: "inherit", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
    return null;
  }
  return `sudo ${cmd}`;
}
