import { afterAll, beforeAll, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { randomBytes } from "node:crypto";
import { decryptStream, encryptStream } from "./openpgp-stream";
import { cachedS2kKeyAsync, deriveS2kKey, deriveS2kKeyAsync, forgetDerivedKeys, s2kDerivations } from "./openpgp-native";

/**
 * Deriving a passphrase key hashes 16 MiB (what the agent writes) to 64 MiB (gpg's default): 10-50 ms
 * of one core, which used to run in one go on the agent's main thread, once per archive and twice in a
 * row when a backup started its two uploads (CI saw /livez wait 103-112 ms). Now the hash runs in
 * slices between other work. Each test counts the turns of the event loop while keys are derived and
 * requires at least one for every 2 MiB hashed (a slice is 1 MiB, under a millisecond here): a
 * derivation that holds the loop again, or slices grown past that, fails here on any machine and at
 * any load. (The longest wait of the loop, compared with a derivation in one go, was the measure
 * before: on a loaded CI machine a wait for a CPU made it fail twice in a row, 2026-12-06.)
 */

const PASS = "slices passphrase";
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), "lifeboat-s2k-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** How many turns the event loop made while `work` ran (a chain of setImmediate: one tick a turn). */
async function turnsDuring(work: () => Promise<unknown>): Promise<number> {
  let turns = 0;
  let running = true;
  const tick = () => {
    if (!running) return;
    turns++;
    setImmediate(tick);
  };
  setImmediate(tick);
  try {
    await work();
  } finally {
    running = false;
  }
  return turns;
}

/** At least one turn of the loop for every 2 MiB a derivation hashes. */
const turnsFor = (bytesHashed: number) => Math.floor(bytesHashed / (2 << 20));

async function collect(s: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

it("the sliced derivation gives the same key as the one in one go", async () => {
  for (const s2k of [
    { type: 3 as const, hash: "sha256", salt: randomBytes(8), count: 16 << 20 },
    { type: 3 as const, hash: "sha1", salt: randomBytes(8), count: 65011712 },
    { type: 3 as const, hash: "sha512", salt: randomBytes(8), count: 1025 },
    { type: 1 as const, hash: "sha1", salt: randomBytes(8), count: 0 },
  ]) {
    for (const keyLen of [16, 32])
      expect((await deriveS2kKeyAsync(s2k, Buffer.from(PASS), keyLen)).equals(deriveS2kKey(s2k, Buffer.from(PASS), keyLen))).toBe(true);
  }
});

it("encrypting two archives at once keeps the event loop turning while their keys are derived", async () => {
  const plain = randomBytes(10_000); // small: the stall measured is the derivation's, not the encryption's
  await collect(await encryptStream(Readable.from([plain]), PASS)); // the first use's warm-up (code compiled, crypto loaded) is not measured
  let out: Buffer[] = [];
  const before = s2kDerivations();
  const turns = await turnsDuring(async () => {
    // Like a backup's two uploads: both streams are set up in the same turn of the loop.
    out = await Promise.all([0, 1].map(async () => collect(await encryptStream(Readable.from([plain]), PASS))));
  });
  expect(s2kDerivations() - before).toBe(2);
  // Two keys of 16 MiB each.
  expect(turns).toBeGreaterThanOrEqual(turnsFor(2 * (16 << 20)));
  // gpg reads them: the key in the packet is the key that was used.
  for (const [i, enc] of out.entries()) {
    writeFileSync(path.join(dir, `m${i}.gpg`), enc);
    const dec = execFileSync("gpg", ["--batch", "--quiet", "--passphrase", PASS, "--pinentry-mode", "loopback", "-d", path.join(dir, `m${i}.gpg`)], {
      env: { ...process.env, GNUPGHOME: dir },
      stdio: ["ignore", "pipe", "pipe"],
      maxBuffer: 1 << 24,
    });
    expect(dec.equals(plain)).toBe(true);
  }
});

it("decrypting what gpg -c writes (64 MiB of SHA-1 S2K) keeps the event loop turning; a wrong passphrase is still told at once", async () => {
  forgetDerivedKeys();
  const plain = randomBytes(300_000);
  writeFileSync(path.join(dir, "plain"), plain);
  writeFileSync(path.join(dir, "pass"), PASS);
  execFileSync(
    "gpg",
    [
      "--batch",
      "--yes",
      "--passphrase-file",
      path.join(dir, "pass"),
      "--s2k-count",
      "65011712",
      "--s2k-digest-algo",
      "SHA1",
      "-c",
      "-o",
      path.join(dir, "p.gpg"),
      path.join(dir, "plain"),
    ],
    { env: { ...process.env, GNUPGHOME: dir }, stdio: "pipe" },
  );
  const message = readFileSync(path.join(dir, "p.gpg"));
  let got: Buffer = Buffer.alloc(0);
  forgetDerivedKeys();
  let stream!: Readable;
  // Counted until the stream is handed over, which is once the key is derived; reading the plaintext
  // after it (zlib's turns: gpg -c compresses) is not counted.
  const turns = await turnsDuring(async () => {
    // Delivered in pieces, the passphrase packet split from the rest, like a download.
    stream = await decryptStream(Readable.from([message.subarray(0, 7), message.subarray(7, 4000), message.subarray(4000)]), PASS);
  });
  got = await collect(stream);
  expect(got.equals(plain)).toBe(true);
  expect(turns).toBeGreaterThanOrEqual(turnsFor(65011712));
  await expect(decryptStream(Readable.from([message]), "not the passphrase")).rejects.toThrow(/passphrase/i);
});

it("an archive that ends before its passphrase packet is whole (empty, or cut inside it) fails at once instead of waiting", async () => {
  const enc = await collect(await encryptStream(Readable.from([Buffer.from("x")]), PASS));
  for (const cut of [Buffer.alloc(0), enc.subarray(0, 1), enc.subarray(0, 6)]) {
    await expect(
      Promise.race([
        decryptStream(Readable.from(cut.length ? [cut] : []), PASS).then((s) => collect(s)),
        new Promise((_, reject) => setTimeout(() => reject(new Error("hangs")), 5000)),
      ]),
    ).rejects.toThrow(/archive|OpenPGP|truncated|damaged/i);
  }
});

it("sliced derivations take turns: the first asked is done first, even when a later one is far shorter", async () => {
  // A restore's database archive asks first and its decompression waits for the key; the log's and the
  // token's keys come after it. Side by side, a 1 MiB derivation would finish long before a 32 MiB one.
  const order: string[] = [];
  const long = deriveS2kKeyAsync({ type: 3, hash: "sha256", salt: randomBytes(8), count: 32 << 20 }, Buffer.from(PASS), 32).then(() => order.push("long"));
  const short = deriveS2kKeyAsync({ type: 3, hash: "sha256", salt: randomBytes(8), count: 1 << 20 }, Buffer.from(PASS), 32).then(() => order.push("short"));
  await Promise.all([long, short]);
  expect(order).toEqual(["long", "short"]);
  // A failure does not stop the turns of the ones after it.
  const bad = deriveS2kKeyAsync({ type: 3, hash: "no-such-hash", salt: randomBytes(8), count: 1 << 20 }, Buffer.from(PASS), 32);
  const after = deriveS2kKeyAsync({ type: 3, hash: "sha256", salt: randomBytes(8), count: 1 << 20 }, Buffer.from(PASS), 32);
  await expect(bad).rejects.toThrow();
  expect((await after).length).toBe(32);
});

it("two messages with the same salt asked for at once derive their key once", async () => {
  forgetDerivedKeys();
  const s2k = { type: 3 as const, hash: "sha256", salt: randomBytes(8), count: 4 << 20 };
  const before = s2kDerivations();
  const [a, b] = await Promise.all([cachedS2kKeyAsync(s2k, Buffer.from(PASS), 32), cachedS2kKeyAsync(s2k, Buffer.from(PASS), 32)]);
  expect(a.equals(b)).toBe(true);
  expect(a.equals(deriveS2kKey(s2k, Buffer.from(PASS), 32))).toBe(true);
  expect(s2kDerivations() - before).toBe(2); // once for the two messages, once for the check above
});
