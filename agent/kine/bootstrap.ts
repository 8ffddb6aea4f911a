import { createCipheriv, createDecipheriv, createHash, pbkdf2Sync, randomBytes } from "node:crypto";

/**
 * k3s keeps its CA certificates and keys as "bootstrap data" inside the datastore, encrypted with
 * the server token (k3s pkg/cluster/encrypt.go, storage.go). These functions follow that format so
 * the agent can prove a token opens a datastore before restoring it.
 */

/** The token's password part: `K10<hash>::<user>:<password>` → `<password>`; a bare token stays as it is. */
export function normalizeToken(token: string): string {
  const t = token.trim();
  if (t.startsWith("K10")) {
    const parts = t.split("::");
    if (parts.length === 2) {
      const creds = parts[1];
      const colon = creds.indexOf(":");
      return colon >= 0 ? creds.slice(colon + 1) : creds;
    }
  }
  return t;
}

/** `/bootstrap/` + the first 12 hex characters of sha256(normalized token). */
export function bootstrapKey(token: string): string {
  return storageKey(normalizeToken(token));
}

/** k3s's storageKey: `/bootstrap/` + the first 12 hex characters of sha256(passphrase), the passphrase as given. */
export function storageKey(passphrase: string): string {
  return "/bootstrap/" + createHash("sha256").update(passphrase).digest("hex").slice(0, 12);
}

function deriveKey(normalized: string, salt: string): Buffer {
  return pbkdf2Sync(Buffer.from(normalized), Buffer.from(salt), 4096, 32, "sha1");
}

/** Encrypts bootstrap data like k3s: `salt:base64(nonce ‖ AES-256-GCM ciphertext ‖ tag)`. */
export function encryptBootstrap(token: string, plaintext: Buffer): Buffer {
  const salt = randomBytes(8).toString("hex");
  const key = deriveKey(normalizeToken(token), salt);
  const nonce = randomBytes(12);
  const c = createCipheriv("aes-256-gcm", key, nonce);
  const ct = Buffer.concat([c.update(plaintext), c.final()]);
  return Buffer.from(`${salt}:${Buffer.concat([nonce, ct, c.getAuthTag()]).toString("base64")}`);
}

/**
 * Decrypts bootstrap data with a token. Throws when the value is malformed or the token does not
 * fit (AES-GCM authentication fails).
 */
export function decryptBootstrap(token: string, value: Buffer): Buffer {
  return decryptWithPassphrase(normalizeToken(token), value);
}

/** decryptBootstrap with the passphrase as given (not normalized): how k3s reads data older k3s stored. */
export function decryptWithPassphrase(passphrase: string, value: Buffer): Buffer {
  const text = value.toString("utf8");
  const sep = text.indexOf(":");
  if (sep < 0) throw new Error("bootstrap data is not in k3s's salt:ciphertext format");
  const salt = text.slice(0, sep);
  const data = Buffer.from(text.slice(sep + 1), "base64");
  if (data.length < 12 + 16) throw new Error("bootstrap data is too short to be k3s's encrypted format");
  const key = deriveKey(passphrase, salt);
  const d = createDecipheriv("aes-256-gcm", key, data.subarray(0, 12));
  d.setAuthTag(data.subarray(data.length - 16));
  return Buffer.concat([d.update(data.subarray(12, data.length - 16)), d.final()]);
}
