import "server-only";
import { spawn } from "node:child_process";
import path from "node:path";
import type https from "node:https";
import type { KubeConfig, User } from "@kubernetes/client-node";

/** client-node does not export its Authenticator interface from the package root. */
type Authenticator = Parameters<KubeConfig["addAuthenticator"]>[0];

/**
 * A kubeconfig user's `exec:` credential plugin (aws eks get-token, kubelogin, gke-gcloud-auth-plugin…),
 * run the way client-go runs it, in place of @kubernetes/client-node's ExecAuth, which has no time
 * limit (a plugin that never returns hung every call), runs the plugin once per concurrent call, and
 * forgets a token without expirationTimestamp at once. Here a plugin run is shared by the calls that
 * wait for it, its credential is kept until its expirationTimestamp (without one, until the API server
 * answers 401, as client-go does), and a run that outlives the time limit is killed with its children.
 */
export interface ExecConfig {
  command: string;
  args?: string[];
  env?: { name: string; value: string }[];
  apiVersion?: string;
}

/** Why a credential plugin gave no credential; the message names the plugin and the user, never args, env or output. */
export class ExecPluginError extends Error {
  constructor(
    readonly kind: "missing" | "timeout" | "failed" | "invalid",
    readonly plugin: string,
    readonly user: string,
    message: string,
  ) {
    super(message);
    this.name = "ExecPluginError";
  }
}

interface Credential {
  token?: string;
  cert?: string;
  key?: string;
  /** ms since the epoch; Infinity: until a 401. */
  expiresAt: number;
}

/** How long before expirationTimestamp a credential is renewed, so a request does not carry one that expires in flight. */
const EXPIRY_MARGIN_MS = 10_000;
const MAX_OUTPUT = 1 << 20;

export class ExecCredentials implements Authenticator {
  private readonly plugins = new Map<string, ExecConfig & { dir: string | null }>();
  private readonly cache = new Map<string, Credential>();
  private readonly inflight = new Map<string, Promise<Credential>>();

  constructor(private readonly timeoutMs: number) {}

  /** The plugin of user `name`, from a kubeconfig in `dir` (a relative command path is resolved against it, as client-go does). */
  register(name: string, exec: ExecConfig, dir: string | null): void {
    this.plugins.set(name, { ...exec, dir });
  }

  get size(): number {
    return this.plugins.size;
  }

  isAuthProvider(user: User): boolean {
    return this.plugins.has(user.name);
  }

  async applyAuthentication(user: User, opts: https.RequestOptions): Promise<void> {
    const cred = await this.credential(user.name);
    if (cred.cert) opts.cert = cred.cert;
    if (cred.key) opts.key = cred.key;
    if (cred.token) opts.headers = { ...opts.headers, Authorization: `Bearer ${cred.token}` };
  }

  /** The plugin a call is waiting for right now (to say so when the call runs out of time), or null. */
  pending(): { plugin: string; user: string } | null {
    for (const user of this.inflight.keys()) return { plugin: this.plugins.get(user)!.command, user };
    return null;
  }

  /** Forgets every cached credential (the API server answered 401: the next call runs the plugin again). */
  invalidate(): void {
    this.cache.clear();
  }

  private credential(user: string): Promise<Credential> {
    const cached = this.cache.get(user);
    if (cached && cached.expiresAt - EXPIRY_MARGIN_MS > Date.now()) return Promise.resolve(cached);
    let run = this.inflight.get(user);
    if (!run) {
      run = this.run(user).finally(() => this.inflight.delete(user));
      this.inflight.set(user, run);
    }
    return run;
  }

  private async run(user: string): Promise<Credential> {
    const cred = await this.spawnPlugin(user);
    this.cache.set(user, cred);
    return cred;
  }

  private spawnPlugin(user: string): Promise<Credential> {
    const exec = this.plugins.get(user)!;
    const plugin = exec.command;
    const command = exec.dir && plugin.includes(path.sep) && !path.isAbsolute(plugin) ? path.join(exec.dir, plugin) : plugin;
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const e of exec.env ?? []) env[e.name] = e.value;
    env.KUBERNETES_EXEC_INFO = JSON.stringify({
      apiVersion: exec.apiVersion ?? "client.authentication.k8s.io/v1beta1",
      kind: "ExecCredential",
      spec: { interactive: false },
    });
    const fail = (kind: ExecPluginError["kind"], message: string) => new ExecPluginError(kind, plugin, user, message);
    return new Promise<Credential>((resolve, reject) => {
      let settled = false;
      const settle = (f: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        f();
      };
      // Its own process group, so a timeout kills the plugin's children too (a shell script's `sleep`, aws's python).
      const child = spawn(command, exec.args ?? [], { env, stdio: ["ignore", "pipe", "pipe"], detached: true });
      const kill = () => {
        try {
          if (child.pid) process.kill(-child.pid, "SIGKILL");
        } catch {
          child.kill("SIGKILL");
        }
      };
      const timer = setTimeout(() => {
        kill();
        settle(() =>
          reject(
            fail(
              "timeout",
              `The kubeconfig's credential plugin "${plugin}" (user "${user}") did not return a credential within ${Math.round(this.timeoutMs / 1000)} s and was stopped. Run it by hand to see what it waits for (often the network to its identity provider, or a login).`,
            ),
          ),
        );
      }, this.timeoutMs);
      timer.unref?.();
      let out = "";
      child.stdout.setEncoding("utf8");
      child.stdout.on("data", (d: string) => {
        if (out.length < MAX_OUTPUT) out += d;
      });
      child.stderr.resume();
      child.on("error", (err: NodeJS.ErrnoException) => {
        const missing = err.code === "ENOENT";
        settle(() =>
          reject(
            fail(
              missing ? "missing" : "failed",
              missing
                ? `The kubeconfig's credential plugin "${plugin}" (user "${user}") could not be started: it is not installed where the dashboard runs (not found). Install it, or fix the user's exec command in the kubeconfig.`
                : `The kubeconfig's credential plugin "${plugin}" (user "${user}") could not be started (${err.code ?? err.message}). Check that it is executable by the dashboard's user.`,
            ),
          ),
        );
      });
      child.on("close", (code, signal) => {
        if (code !== 0)
          return settle(() =>
            reject(
              fail(
                "failed",
                `The kubeconfig's credential plugin "${plugin}" (user "${user}") failed (${signal ? `killed by ${signal}` : `exit code ${code}`}) and gave no credential. Run it by hand to see why (an expired login is common).`,
              ),
            ),
          );
        settle(() => {
          const cred = parseCredential(out);
          if (cred) resolve(cred);
          else
            reject(
              fail(
                "invalid",
                `The kubeconfig's credential plugin "${plugin}" (user "${user}") did not print an ExecCredential with a token or client certificate.`,
              ),
            );
        });
      });
    });
  }
}

function parseCredential(out: string): Credential | null {
  let obj: unknown;
  try {
    obj = JSON.parse(out);
  } catch {
    return null;
  }
  const s = (obj as { status?: Record<string, unknown> } | null)?.status;
  if (!s || typeof s !== "object") return null;
  const str = (v: unknown) => (typeof v === "string" && v ? v : undefined);
  const token = str(s.token);
  const cert = str(s.clientCertificateData);
  const key = str(s.clientKeyData);
  if (!token && !(cert && key)) return null;
  const exp = str(s.expirationTimestamp) ? Date.parse(s.expirationTimestamp as string) : NaN;
  return { token, cert, key, expiresAt: Number.isFinite(exp) ? exp : Infinity };
}
