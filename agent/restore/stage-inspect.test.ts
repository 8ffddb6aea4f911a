import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { createCipheriv, createHash, pbkdf2Sync, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { KINE_INSERT_SQL, openKineDb } from "../kine/schema";
import { checkToken } from "./stage-inspect";

/**
 * Bootstrap data as older k3s left it: under the hash of the empty string (a server started without
 * a token), or of the whole K10 token (before k3s normalized tokens to their password). k3s
 * (pkg/cluster/storage.go, migrateOldTokens) decrypts such data with that passphrase and saves it
 * again under the token's key when it starts, so the token fits.
 */

const TOKEN = "K10" + "ab".repeat(32) + "::server:s3cret-password";

/** k3s's encrypt (pkg/cluster/encrypt.go) with the passphrase as given: salt:base64(nonce ‖ ciphertext ‖ tag). */
function sealWith(passphrase: string, plaintext: string): Buffer {
  const salt = randomBytes(8).toString("hex");
  const key = pbkdf2Sync(Buffer.from(passphrase), Buffer.from(salt), 4096, 32, "sha1");
  const nonce = randomBytes(12);
  const c = createCipheriv("aes-256-gcm", key, nonce);
  const ct = Buffer.concat([c.update(plaintext), c.final()]);
  return Buffer.from(`${salt}:${Buffer.concat([nonce, ct, c.getAuthTag()]).toString("base64")}`);
}

const storageKey = (passphrase: string) => "/bootstrap/" + createHash("sha256").update(passphrase).digest("hex").slice(0, 12);

let work: string;
beforeAll(() => {
  work = mkdtempSync(path.join(tmpdir(), "lifeboat-stage-inspect-"));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

function withBootstrap(name: string, key: string, value: Buffer) {
  const db = openKineDb(path.join(work, `${name}.db`));
  const ins = db.prepare(KINE_INSERT_SQL);
  ins.run("compact_rev_key", 1, 0, 0, 0, 0, Buffer.alloc(0), 0);
  ins.run(key, 1, 0, 0, 0, 0, value, 0);
  return db;
}

describe("checkToken on bootstrap data older k3s stored", () => {
  it("fits when the data sits under the whole token's key, encrypted with the whole token", () => {
    const db = withBootstrap("old-format", storageKey(TOKEN), sealWith(TOKEN, '{"ServerCA":{}}'));
    try {
      expect(checkToken(db, TOKEN)).toMatchObject({ fits: true, noBootstrap: false });
      expect(checkToken(db, "K10" + "ab".repeat(32) + "::server:other")).toMatchObject({ fits: false });
    } finally {
      db.close();
    }
  });

  it("fits when the data sits under the empty string's key, encrypted with the empty string", () => {
    const db = withBootstrap("empty", storageKey(""), sealWith("", '{"ServerCA":{}}'));
    try {
      expect(checkToken(db, TOKEN)).toMatchObject({ fits: true, noBootstrap: false });
    } finally {
      db.close();
    }
  });

  it("does not fit when the old key's data does not decrypt", () => {
    const db = withBootstrap("garbled", storageKey(TOKEN), sealWith("something else", '{"ServerCA":{}}'));
    try {
      expect(checkToken(db, TOKEN)).toMatchObject({ fits: false });
    } finally {
      db.close();
    }
  });
});
