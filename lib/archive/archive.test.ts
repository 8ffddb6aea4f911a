import { describe, it, expect } from "vitest";
import { mkdtempSync, writeFileSync, readFileSync, createWriteStream, createReadStream, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { pipeline } from "node:stream/promises";
import { Readable } from "node:stream";
import { createHash, randomBytes } from "node:crypto";
import { encryptStream, decryptStream, WrongPassphraseError, CorruptArchiveError, zstdCompress, zstdDecompress } from "./index";

const tmp = () => mkdtempSync(path.join(tmpdir(), "lifeboat-arch-"));
const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");
const gpgHome = () => {
  const h = tmp();
  return { GNUPGHOME: h };
};

async function collect(s: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

describe("OpenPGP + zstd archives with the real gpg and zstd CLIs", () => {
  const payload = Buffer.concat([Buffer.from("kine ".repeat(50_000)), randomBytes(300_000)]);

  it("what Lifeboat writes, `zstd -d` and `gpg -d` read", async () => {
    const dir = tmp();
    const out = path.join(dir, "x.zst.gpg");
    const enc = await encryptStream(Readable.from([payload]).pipe(zstdCompress()), "correct horse");
    await pipeline(enc, createWriteStream(out));
    writeFileSync(path.join(dir, "pass"), "correct horse\n");
    execFileSync("gpg", ["--batch", "--quiet", "--passphrase-file", path.join(dir, "pass"), "-o", path.join(dir, "x.zst"), "-d", out], { env: { ...process.env, ...gpgHome() }, stdio: "pipe" });
    execFileSync("zstd", ["-q", "-d", path.join(dir, "x.zst"), "-o", path.join(dir, "x")]);
    expect(sha(readFileSync(path.join(dir, "x")))).toBe(sha(payload));
  });

  it("what `gpg -c --cipher-algo AES256` writes (the seed job), Lifeboat reads", async () => {
    const dir = tmp();
    writeFileSync(path.join(dir, "plain"), payload);
    writeFileSync(path.join(dir, "pass"), "seed-pass");
    execFileSync("gpg", ["--batch", "--yes", "--passphrase-file", path.join(dir, "pass"), "--cipher-algo", "AES256", "-c", "-o", path.join(dir, "plain.gpg"), path.join(dir, "plain")], {
      env: { ...process.env, ...gpgHome() },
      stdio: "pipe",
    });
    const got = await collect(await decryptStream(createReadStream(path.join(dir, "plain.gpg")), "seed-pass"));
    expect(sha(got)).toBe(sha(payload));
  });

  it("a wrong passphrase is WrongPassphraseError and names no secret", async () => {
    const enc = await collect(await encryptStream(Readable.from([payload]), "right-one"));
    const err = await decryptStream(Readable.from([enc]), "wrong-one").catch((e) => e);
    expect(err).toBeInstanceOf(WrongPassphraseError);
    expect(String(err.message)).not.toContain("right-one");
    expect(String(err.message)).not.toContain("wrong-one");
  });

  it("a truncated archive fails (never a silent short file)", async () => {
    const enc = await collect(await encryptStream(Readable.from([payload]).pipe(zstdCompress()), "pw"));
    const cut = enc.subarray(0, Math.floor(enc.length * 0.6));
    const err = await (async () => {
      const s = await decryptStream(Readable.from([cut]), "pw");
      await pipeline(s, zstdDecompress(), async function* (src) {
        for await (const _ of src) yield* [];
      });
    })().catch((e) => e);
    expect(err).toBeInstanceOf(CorruptArchiveError);
  });

  it("a file that is not OpenPGP is CorruptArchiveError", async () => {
    const err = await decryptStream(Readable.from([Buffer.from("SQLite format 3\0 not encrypted")]), "pw").catch((e) => e);
    expect(err).toBeInstanceOf(CorruptArchiveError);
  });

  it("zstd round trip, and `zstd` CLI output decompresses", async () => {
    const dir = tmp();
    writeFileSync(path.join(dir, "p"), payload);
    execFileSync("zstd", ["-q", path.join(dir, "p"), "-o", path.join(dir, "p.zst")]);
    expect(statSync(path.join(dir, "p.zst")).size).toBeLessThan(payload.length);
    const got = await collect(createReadStream(path.join(dir, "p.zst")).pipe(zstdDecompress()));
    expect(sha(got)).toBe(sha(payload));
  });
});
