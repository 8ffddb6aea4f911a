import { describe, it, expect, afterAll } from "vitest";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { encryptStream } from "../archive";
import { deriveS2kKey, forgetDerivedKeys, s2kDerivations, type KeyDeriver } from "../archive/openpgp-native";
import { stopGpgAgents, useGnupgHome } from "../testing/test-server-dir";
import { decodeSegment, encodeSegment } from "./segment-codec";

/**
 * Segments of one process share one S2K salt (encryptStream's sharedSalt), so the 16 MiB key
 * derivation runs once for all of them, when they are written and when a restore reads them; each
 * still encrypts differently, a wrong passphrase still fails, gpg still reads each, and the
 * backup's archives keep a salt of their own.
 */

const PASS = `segment codec passphrase ${process.pid}`;
const work = mkdtempSync(path.join(tmpdir(), "lifeboat-segment-codec-"));
afterAll(() => {
  stopGpgAgents();
  rmSync(work, { recursive: true, force: true });
});

/** The SKESK packet (new format, one length octet): tag, length, then its 13 bytes, salt among them. */
const skesk = (b: Buffer) => b.subarray(0, 2 + b[1]);

async function collect(r: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

describe("segment encryption", () => {
  it("derives the key once for many segments, written and read, and each segment still encrypts differently", async () => {
    const text = "-- lifeboat-log segment v1\nBEGIN;\nCOMMIT;\n";
    const before = s2kDerivations();
    const segs = [await encodeSegment(text, PASS), await encodeSegment(text, PASS), await encodeSegment(text, PASS)];
    for (const s of segs) expect(await decodeSegment(Readable.from([s]), PASS)).toBe(text);
    expect(s2kDerivations() - before).toBe(1);
    expect(skesk(segs[1]).equals(skesk(segs[0]))).toBe(true);
    expect(segs[1].equals(segs[0])).toBe(false);
    // The rest differs from the random prefix on: CFB's stream is not the same twice.
    expect(
      segs[1].subarray(skesk(segs[1]).length + 4, skesk(segs[1]).length + 20).equals(segs[0].subarray(skesk(segs[0]).length + 4, skesk(segs[0]).length + 20)),
    ).toBe(false);
  });

  it("a key derived elsewhere (decodeSegment's derive): asked once for segments sharing a salt, even at once, and none on this thread", async () => {
    const text = "-- lifeboat-log segment v1\nBEGIN;\nSELECT 'elsewhere';\nCOMMIT;\n";
    const segs = [await encodeSegment(text, PASS), await encodeSegment(text, PASS), await encodeSegment(text, PASS)];
    forgetDerivedKeys();
    const before = s2kDerivations();
    let asked = 0;
    const derive: KeyDeriver = async (s2k, pass, keyLen) => {
      asked++;
      await new Promise((r) => setTimeout(r, 20));
      return deriveS2kKey(s2k, pass, keyLen);
    };
    const texts = await Promise.all(segs.map((b) => decodeSegment(Readable.from([b]), PASS, derive)));
    expect(texts).toEqual([text, text, text]);
    expect(asked).toBe(1);
    // deriveS2kKey inside the deriver is the only derivation: the decoders found its key cached.
    expect(s2kDerivations() - before).toBe(1);
    // A deriver that fails fails the decode with its error (the run ahead's falls back to this thread).
    forgetDerivedKeys();
    await expect(decodeSegment(Readable.from([segs[0]]), PASS, () => Promise.reject(new Error("no worker")))).rejects.toThrow(/no worker/);
  });

  it("a wrong passphrase fails on a segment whose salt's key is cached", async () => {
    const seg = await encodeSegment("-- lifeboat-log segment v1\nCOMMIT;\n", PASS);
    await expect(decodeSegment(Readable.from([seg]), `${PASS} but wrong`)).rejects.toMatchObject({ name: "WrongPassphraseError" });
  });

  it("gpg reads segments that share a salt", async () => {
    const home = useGnupgHome(path.join(work, "gnupg"));
    mkdirSync(home, { mode: 0o700 });
    const passFile = path.join(work, "pass");
    writeFileSync(passFile, PASS, { mode: 0o600 });
    for (const [i, text] of ["first segment\n", "second segment\n"].entries()) {
      const file = path.join(work, `seg-${i}.gpg`);
      writeFileSync(file, await encodeSegment(text, PASS));
      const r = spawnSync("gpg", ["--homedir", home, "--batch", "--quiet", "--pinentry-mode", "loopback", "--passphrase-file", passFile, "-d", file]);
      expect(r.status, r.stderr.toString()).toBe(0);
      // zstd frame magic: what gpg gives back is the compressed text.
      expect(r.stdout.subarray(0, 4).toString("hex")).toBe("28b52ffd");
    }
  });

  it("the backup's archives keep a salt of their own each", async () => {
    const a = await collect(await encryptStream(Readable.from([Buffer.from("archive")]), PASS));
    const b = await collect(await encryptStream(Readable.from([Buffer.from("archive")]), PASS));
    expect(skesk(a).equals(skesk(b))).toBe(false);
  });
});
