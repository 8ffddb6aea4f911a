import { describe, it, expect, afterAll } from "vitest";
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
const homes: string[] = [];
const gpgHome = () => {
  const h = tmp();
  homes.push(h);
  return { GNUPGHOME: h };
};

afterAll(() => {
  // gpg starts a gpg-agent daemon per home directory: stop them.
  for (const h of homes) execFileSync("gpgconf", ["--homedir", h, "--kill", "gpg-agent"], { stdio: "ignore" });
});

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
    execFileSync("gpg", ["--batch", "--quiet", "--passphrase-file", path.join(dir, "pass"), "-o", path.join(dir, "x.zst"), "-d", out], {
      env: { ...process.env, ...gpgHome() },
      stdio: "pipe",
    });
    execFileSync("zstd", ["-q", "-d", path.join(dir, "x.zst"), "-o", path.join(dir, "x")]);
    expect(sha(readFileSync(path.join(dir, "x")))).toBe(sha(payload));
  });

  it("what `gpg -c --cipher-algo AES256` writes (the seed job), Lifeboat reads", async () => {
    const dir = tmp();
    writeFileSync(path.join(dir, "plain"), payload);
    writeFileSync(path.join(dir, "pass"), "seed-pass");
    execFileSync(
      "gpg",
      [
        "--batch",
        "--yes",
        "--passphrase-file",
        path.join(dir, "pass"),
        "--cipher-algo",
        "AES256",
        "-c",
        "-o",
        path.join(dir, "plain.gpg"),
        path.join(dir, "plain"),
      ],
      {
        env: { ...process.env, ...gpgHome() },
        stdio: "pipe",
      },
    );
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

  it("zstd on a worker thread: same bytes as the CLI's, in pieces of any size, and the same errors", async () => {
    const dir = tmp();
    const big = Buffer.concat([payload, payload, randomBytes(3_000_000), Buffer.from("x".repeat(4_000_000))]);
    writeFileSync(path.join(dir, "p"), big);
    execFileSync("zstd", ["-q", path.join(dir, "p"), "-o", path.join(dir, "p.zst")]);
    const z = readFileSync(path.join(dir, "p.zst"));
    const pieces = (b: Buffer, n: number) => Array.from({ length: Math.ceil(b.length / n) }, (_, i) => b.subarray(i * n, (i + 1) * n));
    for (const [n, transferInput] of [
      [1 << 20, true],
      [777, false],
      [z.length, true],
    ] as const) {
      const got = await collect(Readable.from(pieces(z, n).map((p) => Buffer.from(p))).pipe(zstdDecompress({ transferInput })));
      expect(sha(got), `pieces of ${n}`).toBe(sha(big));
    }
    // Two frames back to back (zstd -c a b) are one stream, as the CLI reads it.
    const two = Buffer.concat([z, z]);
    expect((await collect(Readable.from([two]).pipe(zstdDecompress()))).length).toBe(big.length * 2);
    // Cut short inside a frame, and not zstd at all: errors, never a clean end.
    await expect(collect(Readable.from([z.subarray(0, z.length - 100)]).pipe(zstdDecompress()))).rejects.toThrow(
      /ends early: its zstd data stops in the middle of a frame/,
    );
    await expect(collect(Readable.from([Buffer.from("not zstd, not anything")]).pipe(zstdDecompress()))).rejects.toThrow(/Unknown frame descriptor/);
    // Whole, but something else: said what it is.
    await expect(collect(Readable.from([Buffer.from("SQLite format 3\0 plain")]).pipe(zstdDecompress()))).rejects.toThrow(
      /Its data is an uncompressed SQLite database, not zstd/,
    );
    // Without transferInput the caller's chunks stay whole.
    const mine = Buffer.from(z);
    await collect(Readable.from([mine]).pipe(zstdDecompress()));
    expect(mine.equals(z)).toBe(true);
  });
});
