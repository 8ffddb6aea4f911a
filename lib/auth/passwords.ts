import "server-only";
import { randomBytes, scrypt, scryptSync, timingSafeEqual, type ScryptOptions } from "node:crypto";

/**
 * Password hashing: scrypt with a per-user random salt, stored as
 * `scrypt$<N>$<r>$<p>$<salt base64>$<hash base64>` so the cost can rise later without breaking old
 * hashes. N=2^15, r=8 takes 32 MiB and about 0.1 s on this machine (bench/auth.ts measures it): slow
 * for a guesser, quick enough for a person. Runs on libuv's pool, not the event loop.
 */

const COST = { N: 1 << 15, r: 8, p: 1 };
const KEY_LENGTH = 32;

function derive(password: string, salt: Buffer, opts: { N: number; r: number; p: number }): Promise<Buffer> {
  const options: ScryptOptions = { ...opts, maxmem: 128 * opts.N * opts.r * 2 };
  return new Promise((resolve, reject) => scrypt(password.normalize("NFKC"), salt, KEY_LENGTH, options, (err, key) => (err ? reject(err) : resolve(key))));
}

const stored = (salt: Buffer, key: Buffer) => ["scrypt", COST.N, COST.r, COST.p, salt.toString("base64"), key.toString("base64")].join("$");

/** The stored form of `password` (see the module comment). */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  return stored(salt, await derive(password, salt, COST));
}

/** hashPassword, blocking: for the first admin at start and the command line, where nothing else waits. */
export function hashPasswordSync(password: string): string {
  const salt = randomBytes(16);
  return stored(salt, scryptSync(password.normalize("NFKC"), salt, KEY_LENGTH, { ...COST, maxmem: 128 * COST.N * COST.r * 2 }));
}

// Verifying against this when the user does not exist costs the same time, so timing does not tell.
let dummy: Promise<string> | undefined;

/**
 * True when `password` matches `stored` (constant-time compare). `stored` null (no such user) takes
 * as long and answers false. A malformed stored hash answers false.
 */
export async function verifyPassword(password: string, stored: string | null): Promise<boolean> {
  dummy ??= hashPassword(randomBytes(16).toString("hex"));
  const target = stored ?? (await dummy);
  const parts = target.split("$");
  if (parts.length !== 6 || parts[0] !== "scrypt") return false;
  const [N, r, p] = parts.slice(1, 4).map(Number);
  const salt = Buffer.from(parts[4], "base64");
  const expected = Buffer.from(parts[5], "base64");
  if (![N, r, p].every((n) => Number.isInteger(n) && n > 0) || expected.length !== KEY_LENGTH) return false;
  const key = await derive(password, salt, { N, r, p });
  return timingSafeEqual(key, expected) && stored !== null;
}

/** A random password of 24 characters from an alphabet without look-alikes (about 137 bits). */
export function generatePassword(): string {
  const alphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
  const bytes = randomBytes(48);
  let out = "";
  // Rejection sampling keeps every character equally likely (256 is not a multiple of the alphabet).
  for (const b of bytes) {
    if (b >= alphabet.length * Math.floor(256 / alphabet.length)) continue;
    out += alphabet[b % alphabet.length];
    if (out.length === 24) return out;
  }
  return out + generatePassword().slice(out.length);
}
