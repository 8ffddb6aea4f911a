import "server-only";
import http from "node:http";
import https from "node:https";
import tls from "node:tls";
import { isIP } from "node:net";
import { DomainError } from "../contracts/errors";
import { isLoopbackHost, parseFingerprint } from "../contracts/agent-tls";
import type { DashboardEnv } from "../env";
import { UNTRUSTED_CERT_CODES } from "../net/tls-errors";

/**
 * How the dashboard's server reaches an agent (issue 10): HTTPS, with the agent's certificate
 * pinned by its SHA-256 fingerprint (LIFEBOAT_AGENT_FINGERPRINT, or the one typed in the restore
 * wizard), or checked against a CA (LIFEBOAT_AGENT_CA_FILE), or against the system's CAs when
 * neither is given. The pin is checked before a byte of the request — the bearer token — is sent.
 * Plain HTTP only to a loopback address, or when LIFEBOAT_AGENT_INSECURE_HTTP=true (then every page
 * warns). Built on node:http(s) rather than fetch: fetch cannot hold a request until the pin is checked.
 */

export interface AgentTls {
  /** SHA-256 fingerprint in parseFingerprint's form. */
  fingerprint?: string;
  /** PEM of a CA that signed the agent's certificate. */
  ca?: string;
  /** Where the fingerprint came from, for messages ("LIFEBOAT_AGENT_FINGERPRINT", "the fingerprint entered in the wizard"). */
  pinSource?: string;
}

export interface TransportAnswer {
  status: number;
  text: string;
}

/** A failure to talk to the agent, before any answer: `tls` (pin or trust), `protocol` (HTTP vs HTTPS), or `network`. */
export class TransportError extends Error {
  constructor(
    readonly kind: "tls" | "protocol" | "network",
    message: string,
    readonly code?: string,
  ) {
    super(message);
    this.name = "TransportError";
  }
}

/** Throws DomainError `bad_request` when `url` is plain http:// to another machine without the operator's consent. */
export function checkAgentUrl(url: string, allowInsecureHttp: boolean): void {
  const u = new URL(url);
  if (u.protocol !== "http:" && u.protocol !== "https:") throw new DomainError("bad_request", `${url} is not an http(s) URL of an agent.`);
  if (u.protocol === "http:" && !isLoopbackHost(u.hostname) && !allowInsecureHttp)
    throw new DomainError(
      "bad_request",
      `${u.origin} is plain HTTP to another machine: its token would cross the network in clear. Use https:// with the agent's fingerprint (\`lifeboat-agent status\` prints it), or set LIFEBOAT_AGENT_INSECURE_HTTP=true on the dashboard to accept the risk.`,
    );
}

/** The sentence every page shows when the configured agent is reached over plain HTTP across the network, else null. */
export function agentTransportWarning(env: Pick<DashboardEnv, "LIFEBOAT_AGENT_URL" | "LIFEBOAT_AGENT_INSECURE_HTTP">): string | null {
  if (!env.LIFEBOAT_AGENT_URL) return null;
  const u = new URL(env.LIFEBOAT_AGENT_URL);
  if (u.protocol !== "http:" || isLoopbackHost(u.hostname)) return null;
  return `The dashboard talks to its agent at ${u.host} over plain HTTP (LIFEBOAT_AGENT_INSECURE_HTTP=true): anyone on that network can read the agent's token and act as the dashboard. Switch the agent to HTTPS (its default) and pin it with LIFEBOAT_AGENT_FINGERPRINT.`;
}

/** The configured agent's TLS settings from the environment. */
export function tlsFromEnv(env: Pick<DashboardEnv, "agentFingerprint" | "LIFEBOAT_AGENT_CA_FILE">, readCa: (file: string) => string): AgentTls {
  return {
    fingerprint: env.agentFingerprint,
    ca: env.LIFEBOAT_AGENT_CA_FILE ? readCa(env.LIFEBOAT_AGENT_CA_FILE) : undefined,
    pinSource: "LIFEBOAT_AGENT_FINGERPRINT",
  };
}

/** A TLS connection to `host:port` handed over only after its certificate matched `pin` (the request waits). */
function pinnedConnection(host: string, port: number, pin: string, pinSource: string) {
  return (_opts: unknown, done: (err: Error | null, socket?: tls.TLSSocket) => void): undefined => {
    const socket = tls.connect({ host, port, servername: isIP(host) ? undefined : host, rejectUnauthorized: false, ALPNProtocols: ["http/1.1"] });
    const fail = (err: Error) => {
      socket.destroy();
      done(err);
    };
    socket.once("error", (err: NodeJS.ErrnoException) => fail(classify(err)));
    socket.once("secureConnect", () => {
      socket.removeAllListeners("error");
      const got = parseFingerprint(socket.getPeerCertificate().fingerprint256 ?? "");
      if (got !== pin)
        return fail(
          new TransportError(
            "tls",
            `its certificate has the SHA-256 fingerprint ${got ?? "(none)"}, but ${pinSource} is ${pin}. Nothing was sent to it. If the agent's certificate was replaced on purpose, run \`lifeboat-agent status\` on its machine and use the fingerprint it prints; if not, something else answers at that address`,
          ),
        );
      done(null, socket);
    });
    return undefined;
  };
}

function classify(err: NodeJS.ErrnoException): TransportError {
  const code = err.code ?? "";
  if (UNTRUSTED_CERT_CODES.has(code))
    return new TransportError(
      "tls",
      `its certificate is not trusted (${code}). Give the dashboard the agent's fingerprint (\`lifeboat-agent status\` on its machine prints it; LIFEBOAT_AGENT_FINGERPRINT, or the wizard's fingerprint field), or the CA that signed it (LIFEBOAT_AGENT_CA_FILE)`,
      code,
    );
  if (code === "EPROTO" || /wrong version number|packet length too long/i.test(err.message))
    return new TransportError(
      "protocol",
      "it does not answer HTTPS at that address (is it serving plain HTTP? Then use http://, allowed on this machine only)",
      code,
    );
  if (code === "HPE_INVALID_CONSTANT" || code === "HPE_INVALID_VERSION")
    return new TransportError("protocol", "it answers HTTPS, not plain HTTP: use https:// and its fingerprint", code);
  if (code === "ECONNREFUSED") return new TransportError("network", "connection refused (is the agent running?)", code);
  return new TransportError("network", code || err.message, code);
}

/**
 * One HTTP exchange with an agent. Resolves with any answer (status and body text); rejects with
 * TransportError when there is none, or with the signal's reason when `signal` aborts.
 */
export function agentRequest(
  url: URL,
  init: { method: string; headers: Record<string, string>; body?: string; signal: AbortSignal },
  opts: AgentTls,
): Promise<TransportAnswer> {
  return new Promise((resolve, reject) => {
    const port = Number(url.port) || (url.protocol === "https:" ? 443 : 80);
    const host = url.hostname.replace(/^\[|\]$/g, "");
    const base = { host, port, path: url.pathname + url.search, method: init.method, headers: init.headers, signal: init.signal };
    let req: http.ClientRequest;
    if (url.protocol === "http:") req = http.request({ ...base, agent: false });
    // No `agent` with createConnection: given `agent: false`, Node makes a fresh Agent and ignores createConnection.
    else if (opts.fingerprint)
      req = http.request({
        ...base,
        createConnection: pinnedConnection(host, port, opts.fingerprint, opts.pinSource ?? "the pinned fingerprint") as never,
      });
    else req = https.request({ ...base, agent: false, ca: opts.ca, servername: isIP(host) ? undefined : host });
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", (err) => reject(classify(err)));
    });
    req.on("error", (err: NodeJS.ErrnoException) => reject(init.signal.aborted ? init.signal.reason : err instanceof TransportError ? err : classify(err)));
    req.end(init.body);
  });
}
