/**
 * How the dashboard and the agent agree on the agent's transport (issue 10): the agent answers
 * HTTPS with a certificate whose SHA-256 fingerprint the dashboard pins; plain HTTP is for an agent
 * on the same machine only, or when the operator says so (LIFEBOAT_AGENT_INSECURE_HTTP=true).
 * Shared by both ends so they print and compare fingerprints in one format.
 */

/** Shortest agent token either end accepts: a guessable token would guard a root service. */
export const MIN_AGENT_TOKEN_LENGTH = 32;

/** The command that makes a good agent token, for messages. */
export const MAKE_TOKEN_HINT = "head -c 32 /dev/urandom | base64";

/**
 * A SHA-256 fingerprint in the one form both ends print: 32 upper-case hex pairs joined by colons
 * (what `openssl x509 -fingerprint -sha256` and Node's `fingerprint256` print). Accepts colons,
 * spaces or none, either case, and an optional `sha256:`/`SHA256 Fingerprint=` prefix; null when
 * the text is not a SHA-256 fingerprint.
 */
export function parseFingerprint(text: string): string | null {
  const hex = text
    .trim()
    .replace(/^(sha-?256\s*(fingerprint)?\s*[=:]?)/i, "")
    .replace(/[\s:]/g, "")
    .toUpperCase();
  if (!/^[0-9A-F]{64}$/.test(hex)) return null;
  return hex.match(/../g)!.join(":");
}

/** True for a host name or address that never leaves this machine (127.0.0.0/8, ::1, localhost). */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  if (h === "localhost" || h.endsWith(".localhost") || h === "::1") return true;
  const v4 = h.startsWith("::ffff:") ? h.slice(7) : h;
  return /^127(\.\d{1,3}){3}$/.test(v4);
}
