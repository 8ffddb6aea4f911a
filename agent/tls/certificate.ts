import { X509Certificate, createPrivateKey } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseFingerprint } from "../../lib/contracts/agent-tls";
import { writeFileDurable } from "../../lib/storage/durable-file";
import { AgentConfigError, type AgentConfig } from "../config";
import { makeSelfSigned } from "./self-signed";

/**
 * The certificate `serve` answers HTTPS with: LIFEBOAT_AGENT_TLS_CERT/KEY when given, else a
 * self-signed one made once in `<state dir>/tls/` (key 0600, directory 0700) and kept across
 * restarts, so the fingerprint the dashboard pins stays the same.
 */

export interface AgentTlsMaterial {
  cert: string;
  key: string;
  /** SHA-256 fingerprint, colon-separated upper-case hex (what the dashboard pins). */
  fingerprint: string;
  /** "configured": LIFEBOAT_AGENT_TLS_CERT/KEY; "self-signed": made by the agent. */
  source: "configured" | "self-signed";
  certFile: string;
  /** True when this call made the self-signed certificate. */
  created: boolean;
}

/** Where the self-signed certificate and key live. */
export function selfSignedPaths(cfg: Pick<AgentConfig, "stateDir">): { dir: string; cert: string; key: string } {
  const dir = path.join(cfg.stateDir, "tls");
  return { dir, cert: path.join(dir, "agent.crt"), key: path.join(dir, "agent.key") };
}

/** The fingerprint of a PEM certificate. Throws AgentConfigError naming `what` when it is not one. */
function fingerprintOf(pem: string, what: string): string {
  try {
    return parseFingerprint(new X509Certificate(pem).fingerprint256)!;
  } catch {
    throw new AgentConfigError(`${what} is not a PEM certificate.`);
  }
}

function read(file: string, variable: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (e) {
    throw new AgentConfigError(`${variable}: cannot read ${file} (${(e as NodeJS.ErrnoException).code}).`);
  }
}

/** The names a self-signed certificate carries: the host name, localhost, and this host's addresses. */
function hostNames(): string[] {
  const addrs = Object.values(os.networkInterfaces())
    .flat()
    .filter((a): a is os.NetworkInterfaceInfo => !!a && !a.address.startsWith("fe80"))
    .map((a) => a.address);
  return [os.hostname(), "localhost", "127.0.0.1", "::1", ...addrs];
}

/**
 * The certificate and key to serve with, making the self-signed pair on first use. Throws
 * AgentConfigError when configured files cannot be read or do not belong together.
 */
export function loadAgentTls(cfg: Pick<AgentConfig, "stateDir" | "tlsCertFile" | "tlsKeyFile">): AgentTlsMaterial {
  if (cfg.tlsCertFile && cfg.tlsKeyFile) {
    const cert = read(cfg.tlsCertFile, "LIFEBOAT_AGENT_TLS_CERT");
    const key = read(cfg.tlsKeyFile, "LIFEBOAT_AGENT_TLS_KEY");
    const fingerprint = fingerprintOf(cert, `LIFEBOAT_AGENT_TLS_CERT (${cfg.tlsCertFile})`);
    let matches = false;
    try {
      matches = new X509Certificate(cert).checkPrivateKey(createPrivateKey(key));
    } catch {
      throw new AgentConfigError(`LIFEBOAT_AGENT_TLS_KEY: ${cfg.tlsKeyFile} is not a PEM private key.`);
    }
    if (!matches) throw new AgentConfigError(`LIFEBOAT_AGENT_TLS_KEY: ${cfg.tlsKeyFile} is not the key of the certificate in LIFEBOAT_AGENT_TLS_CERT.`);
    return { cert, key, fingerprint, source: "configured", certFile: cfg.tlsCertFile, created: false };
  }
  const p = selfSignedPaths(cfg);
  let created = false;
  if (!existsSync(p.cert) || !existsSync(p.key)) {
    mkdirSync(p.dir, { recursive: true, mode: 0o700 });
    chmodSync(p.dir, 0o700);
    const made = makeSelfSigned(os.hostname(), hostNames());
    // The key first: a certificate without its key would be useless at the next start.
    writeFileDurable(p.key, made.key, { mode: 0o600 });
    writeFileDurable(p.cert, made.cert, { mode: 0o644 });
    created = true;
  }
  const cert = read(p.cert, "the agent's certificate");
  return { cert, key: read(p.key, "the agent's key"), fingerprint: fingerprintOf(cert, p.cert), source: "self-signed", certFile: p.cert, created };
}

/** The fingerprint `serve` answers with, without making anything: null when the self-signed certificate is not made yet. */
export function currentFingerprint(cfg: Pick<AgentConfig, "stateDir" | "tlsCertFile" | "tlsKeyFile">): { fingerprint: string; certFile: string } | null {
  const file = cfg.tlsCertFile ?? selfSignedPaths(cfg).cert;
  if (!existsSync(file)) return null;
  return { fingerprint: fingerprintOf(read(file, "LIFEBOAT_AGENT_TLS_CERT"), file), certFile: file };
}
