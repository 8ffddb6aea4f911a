import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { mkdtempSync, writeFileSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { Readable } from "node:stream";
import zlib from "node:zlib";
import { createDecipheriv, createHash, randomBytes } from "node:crypto";
import { encryptStream, decryptStream, WrongPassphraseError, CorruptArchiveError, type DecryptEngine } from "./openpgp-stream";
import { encryptStreamWithOpenpgp } from "../testing/openpgp-js-encrypt";
import type { enums } from "openpgp";
import { CfbDecipher, deriveS2kKey, peekCompressed, xorInto } from "./openpgp-native";

// The native OpenPGP reader against what the real GnuPG (2.2 here) writes, every variant it claims,
// the ones it leaves to openpgp.js, and the ways an archive goes wrong.

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");
let dir: string;
let gnupgHome: string;
const PASS = "correct horse battery";

/** Half text, half random: compresses a little, like a database. */
function payload(bytes: number): Buffer {
  const text = Buffer.from("kine /registry/leases/kube-system/k3s ".repeat(Math.ceil(bytes / 2 / 38))).subarray(0, bytes >> 1);
  return Buffer.concat([text, randomBytes(bytes - text.length)]);
}

/** `gpg -c` of `data` with extra options; from a file (definite lengths) or from a pipe (partial lengths). */
function gpgEncrypt(data: Buffer, opts: string[], via: "file" | "pipe" = "file"): Buffer {
  const plain = path.join(dir, "plain");
  const out = path.join(dir, "out.gpg");
  writeFileSync(plain, data);
  writeFileSync(path.join(dir, "pass"), PASS);
  rmSync(out, { force: true });
  const args = ["--batch", "--yes", "--passphrase-file", path.join(dir, "pass"), ...opts, "-c", "-o", out];
  execFileSync("gpg", via === "file" ? [...args, plain] : args, {
    env: { ...process.env, GNUPGHOME: gnupgHome },
    input: via === "pipe" ? data : undefined,
    stdio: ["pipe", "pipe", "pipe"],
  });
  return readFileSync(out);
}

/** Splits a buffer into pieces of random sizes (1 byte up to `max`), like a network delivers it. */
function pieces(buf: Buffer, max: number, seed = 1): Buffer[] {
  let s = seed;
  const rand = () => ((s = (s * 1103515245 + 12345) >>> 0) % max) + 1;
  const out: Buffer[] = [];
  for (let o = 0; o < buf.length;) {
    const n = Math.min(rand(), buf.length - o);
    out.push(buf.subarray(o, o + n));
    o += n;
  }
  return out;
}

async function collect(s: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

async function decrypt(chunks: Buffer[], passphrase = PASS): Promise<{ data: Buffer; engine: DecryptEngine; reason: string | null }> {
  let engine: DecryptEngine | null = null;
  let reason: string | null = null;
  const s = await decryptStream(Readable.from(chunks), passphrase, { onEngine: (e, r) => ((engine = e), (reason = r)) });
  const data = await collect(s);
  return { data, engine: engine!, reason };
}

/** What decrypting `chunks` ends with: the data, or the error (from the promise or from the stream). */
async function outcome(chunks: Buffer[], passphrase = PASS): Promise<{ data?: Buffer; error?: Error; when?: "header" | "stream" }> {
  let s: Readable;
  try {
    s = await decryptStream(Readable.from(chunks), passphrase);
  } catch (error) {
    return { error: error as Error, when: "header" };
  }
  try {
    return { data: await collect(s) };
  } catch (error) {
    return { error: error as Error, when: "stream" };
  }
}

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), "lifeboat-pgp-"));
  gnupgHome = mkdtempSync(path.join(tmpdir(), "lifeboat-gnupg-"));
});

afterAll(() => {
  // gpg starts a gpg-agent daemon per home directory; stop it, then remove both directories.
  execFileSync("gpgconf", ["--homedir", gnupgHome, "--kill", "gpg-agent"], { stdio: "ignore" });
  for (const d of [dir, gnupgHome]) rmSync(d, { recursive: true, force: true });
});

describe("native OpenPGP decryption of what gpg writes", () => {
  const data = payload(300_000);
  // gpg's default S2K count (65 MB hashed) costs ~0.1 s per message; most cases use a small one.
  const cheap = ["--s2k-count", "65536"];
  const variants: [string, string[]][] = [
    ["gpg -c defaults (AES-256, SHA-1 iterated S2K at 65 MB, ZIP)", []],
    ["--compress-algo none", [...cheap, "--compress-algo", "none"]],
    ["--compress-algo zlib", [...cheap, "--compress-algo", "zlib"]],
    ["--cipher-algo AES128", [...cheap, "--cipher-algo", "AES128"]],
    ["--cipher-algo AES192", [...cheap, "--cipher-algo", "AES192"]],
    ["--cipher-algo CAMELLIA128 (openpgp.js cannot)", [...cheap, "--cipher-algo", "CAMELLIA128"]],
    ["--cipher-algo CAMELLIA256 (openpgp.js cannot)", [...cheap, "--cipher-algo", "CAMELLIA256"]],
    ["--cipher-algo AES256 --s2k-digest-algo SHA512", [...cheap, "--cipher-algo", "AES256", "--s2k-digest-algo", "SHA512"]],
    ["--s2k-digest-algo SHA256", [...cheap, "--s2k-digest-algo", "SHA256"]],
    ["--s2k-digest-algo SHA224 (shorter hash than the key: two hash contexts)", [...cheap, "--s2k-digest-algo", "SHA224"]],
    ["--s2k-digest-algo RIPEMD160", [...cheap, "--s2k-digest-algo", "RIPEMD160"]],
    ["--s2k-digest-algo MD5", [...cheap, "--s2k-digest-algo", "MD5"]],
    ["--s2k-mode 1 (salted)", ["--s2k-mode", "1"]],
    ["--s2k-mode 0 (simple)", ["--s2k-mode", "0"]],
  ];
  for (const [name, opts] of variants) {
    it(name, async () => {
      const enc = gpgEncrypt(data, opts);
      const got = await decrypt([enc]);
      expect(got.engine).toBe("native");
      expect(sha(got.data)).toBe(sha(data));
    });
  }

  it("from a pipe (partial body lengths for the literal data too), 6 MB, delivered in odd pieces", async () => {
    const big = payload(6_000_000);
    for (const compress of ["zip", "none"]) {
      const enc = gpgEncrypt(big, [...cheap, "--compress-algo", compress], "pipe");
      const got = await decrypt(pieces(enc, 70_000, compress.length));
      expect(got.engine).toBe("native");
      expect(sha(got.data)).toBe(sha(big));
    }
  });

  it("headers and lengths split anywhere: pieces of 1 to 7 bytes", async () => {
    const small = payload(20_000);
    for (const compress of ["zip", "none"]) {
      const enc = gpgEncrypt(small, [...cheap, "--compress-algo", compress], "pipe");
      const got = await decrypt(pieces(enc, 7, 3));
      expect(got.engine).toBe("native");
      expect(sha(got.data)).toBe(sha(small));
    }
  });

  it("ASCII armor (gpg --armor): in pieces of 1 to 7 bytes, with CRLF line ends, with an armor header; cut, doubled or followed by more it fails", async () => {
    const small = payload(20_000);
    const armored = gpgEncrypt(small, [...cheap, "--armor"]);
    expect(armored.subarray(0, 27).toString()).toBe("-----BEGIN PGP MESSAGE-----");
    const crlf = Buffer.from(armored.toString("latin1").replace(/\n/g, "\r\n"), "latin1");
    const withHeader = Buffer.from(armored.toString("latin1").replace("-----\n\n", "-----\nComment: made by hand\n\n"), "latin1");
    for (const enc of [armored, crlf, withHeader]) {
      const got = await decrypt(pieces(enc, 7, 5));
      expect(got.engine).toBe("native");
      expect(sha(got.data)).toBe(sha(small));
    }
    // Left to openpgp.js (BZip2 inside), it still reads the armor.
    const bzip2 = await decrypt(pieces(gpgEncrypt(small, [...cheap, "--armor", "--compress-algo", "bzip2"]), 3000));
    expect(bzip2.engine).toBe("openpgp.js");
    expect(sha(bzip2.data)).toBe(sha(small));
    expect((await outcome([armored], "not the passphrase")).error).toBeInstanceOf(WrongPassphraseError);
    for (const [bad, why] of [
      [armored.subarray(0, armored.length >> 1), /ends early: its ASCII armor stops before/],
      [Buffer.concat([armored, armored]), /more than one OpenPGP message/],
      [Buffer.concat([armored, Buffer.from("more\n")]), /data after its ASCII armor/],
      [Buffer.from("-----BEGIN PGP SIGNATURE-----\n\nAAAA\n-----END PGP SIGNATURE-----\n"), /not an encrypted message/],
    ] as [Buffer, RegExp][]) {
      const r = await outcome(pieces(bad, 5000));
      expect(r.error).toBeInstanceOf(CorruptArchiveError);
      expect(r.error!.message).toMatch(why);
    }
  });

  it("an empty file", async () => {
    const got = await decrypt([gpgEncrypt(Buffer.alloc(0), cheap)]);
    expect(got.engine).toBe("native");
    expect(got.data.length).toBe(0);
  });

  it("what openpgp.js writes (an encrypted session key in the SKESK, its partial lengths)", async () => {
    const big = payload(2_500_000);
    const enc = await collect(await encryptStreamWithOpenpgp(Readable.from([big]), PASS));
    const got = await decrypt(pieces(enc, 100_000));
    expect(got.engine).toBe("native");
    expect(sha(got.data)).toBe(sha(big));
  });
});

describe("what Lifeboat writes (openpgp-encrypt.ts): gpg, the native reader and openpgp.js all read it", () => {
  function gpgDecrypt(enc: Buffer): Buffer {
    writeFileSync(path.join(dir, "lifeboat.gpg"), enc);
    writeFileSync(path.join(dir, "pass"), PASS);
    return execFileSync("gpg", ["--batch", "--quiet", "--passphrase-file", path.join(dir, "pass"), "-d", path.join(dir, "lifeboat.gpg")], {
      env: { ...process.env, GNUPGHOME: gnupgHome },
      maxBuffer: 1 << 25,
      stdio: ["pipe", "pipe", "pipe"],
    });
  }

  // Around the 64 KiB partial-length parts: empty, one byte, under and over 512, exact multiples.
  for (const size of [0, 1, 191, 192, 8383, 8384, 65_529, 65_530, 65_536, 131_066, 2_500_000]) {
    it(`${size} bytes, written in pieces of any size`, async () => {
      const data = payload(size);
      const enc = await collect(await encryptStream(Readable.from(size ? pieces(data, 40_000, size) : []), PASS));
      expect(sha(gpgDecrypt(enc))).toBe(sha(data));
      const got = await decrypt(pieces(enc, 9_000));
      expect(got.engine).toBe("native");
      expect(sha(got.data)).toBe(sha(data));
      let engine: DecryptEngine | null = null;
      const viaOpenpgp = await collect(await decryptStream(Readable.from([enc]), PASS, { engine: "openpgp.js", onEngine: (e) => (engine = e) }));
      expect(engine).toBe("openpgp.js");
      expect(sha(viaOpenpgp)).toBe(sha(data));
    });
  }

  it("the packets gpg sees: AES-256 with a salted, iterated SHA-256 S2K, SEIPD v1 with MDC, uncompressed literal data", async () => {
    const enc = await collect(await encryptStream(Readable.from([payload(200_000)]), PASS));
    writeFileSync(path.join(dir, "lifeboat.gpg"), enc);
    const listed = execFileSync("gpg", ["--batch", "--list-packets", "--passphrase-file", path.join(dir, "pass"), path.join(dir, "lifeboat.gpg")], {
      env: { ...process.env, GNUPGHOME: gnupgHome },
      encoding: "utf8",
      stdio: ["pipe", "pipe", "pipe"],
    });
    expect(listed).toMatch(/symkey enc packet: version 4, cipher 9, aead 0, ?s2k 3, hash 8/);
    expect(listed).toMatch(/count 16777216 \(224\)/);
    expect(listed).toMatch(/encrypted data packet:[\s\S]*mdc_method: 2/);
    expect(listed).toMatch(/literal data packet:[\s\S]*mode b/);
    expect(listed).not.toMatch(/compressed packet/);
  });

  it("two messages of the same data and passphrase differ (random salt and prefix)", async () => {
    const data = payload(1000);
    const a = await collect(await encryptStream(Readable.from([data]), PASS));
    const b = await collect(await encryptStream(Readable.from([data]), PASS));
    expect(a.equals(b)).toBe(false);
    expect(sha((await decrypt([a])).data)).toBe(sha((await decrypt([b])).data));
  });

  it("an error of the input reaches the encrypted stream", async () => {
    const input = new Readable({ read() {} });
    const out = await encryptStream(input, PASS);
    input.push(payload(100_000));
    setTimeout(() => input.destroy(new Error("the snapshot file went away")), 10);
    await expect(collect(out)).rejects.toThrow("the snapshot file went away");
  });

  it("an input that failed before encryption began fails the output too, rather than leaving it waiting for an end", async () => {
    // A backup whose integrity check fails while its upload is set up stops its streams before the encryptor sees them.
    const failed = new Readable({ read() {} });
    failed.on("error", () => {});
    failed.destroy(new Error("the check failed first"));
    await new Promise((r) => setImmediate(r));
    const out = await encryptStream(failed, PASS);
    const result = await Promise.race([
      collect(out).then(
        () => "ended",
        (e: Error) => e.message,
      ),
      new Promise((r) => setTimeout(() => r("still waiting"), 3000)),
    ]);
    expect(result).toBe("the check failed first");
  });
});

describe("messages left to openpgp.js", () => {
  const data = payload(100_000);
  const cheap = ["--s2k-count", "65536"];
  for (const [name, opts, why] of [
    ["BZip2 compression", [...cheap, "--compress-algo", "bzip2"], /compression algorithm 3/],
    ["CAST5", [...cheap, "--cipher-algo", "CAST5"], /cipher 3/],
    ["Twofish", [...cheap, "--cipher-algo", "TWOFISH"], /cipher 10/],
  ] as [string, string[], RegExp][]) {
    it(`${name}: openpgp.js decrypts it, and the bytes the native reader looked at are not lost`, async () => {
      const enc = gpgEncrypt(data, opts);
      const got = await decrypt(pieces(enc, 3000));
      expect(got.engine).toBe("openpgp.js");
      expect(got.reason).toMatch(why);
      expect(sha(got.data)).toBe(sha(data));
    });
  }
});

describe("damaged archives left to openpgp.js", () => {
  it("BZip2 inside (the passphrase already passed the native reader's check), cut short or altered: CorruptArchiveError, not a wrong passphrase", async () => {
    const data = payload(200_000);
    const enc = gpgEncrypt(data, ["--s2k-count", "65536", "--compress-algo", "bzip2"]);
    const flipped = Buffer.from(enc);
    for (let i = enc.length >> 1; i < (enc.length >> 1) + 4; i++) flipped[i] ^= 0x5a;
    for (const bad of [enc.subarray(0, enc.length >> 1), enc.subarray(0, enc.length - 30), flipped]) {
      const r = await outcome(pieces(bad, 3000));
      expect(r.error).toBeInstanceOf(CorruptArchiveError);
      expect(r.error).not.toBeInstanceOf(WrongPassphraseError);
    }
    expect((await outcome([enc], "not the passphrase")).error).toBeInstanceOf(WrongPassphraseError);
  });

  it("AEAD (SEIPD v2, what openpgp.js writes with aeadProtect) and Twofish, cut short: CorruptArchiveError, not a wrong passphrase", async () => {
    const data = payload(200_000);
    const openpgp = await import("openpgp");
    const message = await openpgp.createMessage({ binary: data });
    const aead = Buffer.from(
      (await openpgp.encrypt({ message, passwords: [PASS], format: "binary", config: { aeadProtect: true, s2kIterationCountByte: 96 } })) as Uint8Array,
    );
    const twofish = gpgEncrypt(data, ["--s2k-count", "65536", "--cipher-algo", "TWOFISH"]);
    for (const enc of [aead, twofish]) {
      expect(sha((await decrypt(pieces(enc, 3000))).data)).toBe(sha(data));
      for (const cut of [enc.length >> 1, enc.length - 30]) {
        const r = await outcome(pieces(enc.subarray(0, cut), 3000));
        expect(r.error).toBeInstanceOf(CorruptArchiveError);
        expect(r.error!.message).toMatch(/truncated|ends early|end of packet/i);
      }
    }
    expect((await outcome([aead], "not the passphrase")).error).toBeInstanceOf(WrongPassphraseError);
  });
});

describe("a wrong passphrase for a cipher only openpgp.js reads (CAST5, gpg 1.x's default; Twofish)", () => {
  it("is not told as plain damage: the sentence says the passphrase may be wrong, both for the whole archive and for an altered one", async () => {
    const data = payload(200_000);
    for (const cipher of ["CAST5", "TWOFISH"]) {
      const enc = gpgEncrypt(data, ["--s2k-count", "65536", "--cipher-algo", cipher]);
      const flipped = Buffer.from(enc);
      for (let i = enc.length >> 1; i < (enc.length >> 1) + 4; i++) flipped[i] ^= 0x5a;
      for (const [bytes, passphrase] of [
        [enc, "not the passphrase"],
        [flipped, PASS],
      ] as [Buffer, string][]) {
        const r = await outcome(pieces(bytes, 3000), passphrase);
        expect(r.error, cipher).toBeInstanceOf(CorruptArchiveError);
        expect(r.error!.message, `${cipher} ${passphrase}`).toMatch(/the passphrase is wrong \(LIFEBOAT_PASSPHRASE_FILE\), or the archive was altered/);
      }
    }
  });
});

describe("openpgp.js stuck on what a wrong key decrypts", () => {
  it("a CAST5 message and a wrong passphrase on which openpgp.js itself never finishes: CorruptArchiveError once its input ended and it stopped producing, not a hang", async () => {
    const enc = gpgEncrypt(payload(200_000), ["--s2k-count", "65536", "--cipher-algo", "CAST5"]);
    const chunks = pieces(enc, 3000);
    // About one wrong passphrase in 30 leaves openpgp.js waiting forever (its packet reader on noise): find one.
    const openpgp = await import("openpgp");
    const hangsOpenpgp = async (passphrase: string): Promise<boolean> => {
      const run = (async () => {
        try {
          const message = await openpgp.readMessage({ binaryMessage: Readable.toWeb(Readable.from(chunks)) as unknown as ReadableStream<Uint8Array> });
          const r = await openpgp.decrypt({ message, passwords: [passphrase], format: "binary", config: { allowUnauthenticatedStream: true } });
          await collect(Readable.fromWeb(r.data as never));
        } catch {
          // an answer, whichever
        }
        return false;
      })();
      return Promise.race([run, new Promise<boolean>((r) => setTimeout(() => r(true), 3000))]);
    };
    let stuck: string | null = null;
    for (let i = 0; i < 400 && !stuck; i++) if (await hangsOpenpgp(`wrong ${i}`)) stuck = `wrong ${i}`;
    expect(stuck, "no wrong passphrase made openpgp.js hang").not.toBeNull();
    const started = Date.now();
    const r = await Promise.race([outcome(chunks, stuck!), new Promise<"hang">((res) => setTimeout(() => res("hang"), 40_000))]);
    expect(r).not.toBe("hang");
    const { error } = r as { error?: Error };
    expect(error).toBeInstanceOf(CorruptArchiveError);
    expect(error!.message).toMatch(/either the passphrase is wrong/);
    expect(Date.now() - started).toBeLessThan(30_000);
  }, 120_000);
});

describe("damaged archives and wrong passphrases (native path)", () => {
  const data = payload(400_000);
  let zipped: Buffer;
  let plain: Buffer;
  let lifeboat: Buffer;
  beforeAll(async () => {
    zipped = gpgEncrypt(data, ["--s2k-count", "65536"]);
    plain = gpgEncrypt(data, ["--s2k-count", "65536", "--compress-algo", "none"], "pipe");
    lifeboat = await collect(await encryptStream(Readable.from([data]), PASS));
  });

  it("passphrase packets by the dozen, each with the largest S2K count (seconds of hashing apiece): refused at once; a few extra ones are tried and pass", async () => {
    /** A SKESK v4 for AES-256 with an iterated SHA-1 S2K at the largest count (65 MB hashed), random salt. */
    const skesk = () => Buffer.concat([Buffer.from([0xc3, 0x0d, 4, 9, 3, 2]), randomBytes(8), Buffer.from([0xff])]);
    const extra = (n: number) => Buffer.concat([...Array.from({ length: n }, skesk), zipped]);
    const started = Date.now();
    const r = await outcome(pieces(extra(40), 5000));
    expect(r.error).toBeInstanceOf(CorruptArchiveError);
    expect(r.error!.message).toMatch(/more than 16 passphrase packets/);
    expect(Date.now() - started).toBeLessThan(1000);
    // gpg writes one; several (openpgp.js with several passwords) are fine.
    expect(sha((await decrypt(pieces(extra(2), 5000))).data)).toBe(sha(data));
  });

  it("an Argon2 passphrase packet (RFC 9580) asking for hundreds of passes over its memory: refused at once, not handed to openpgp.js to hash for minutes", async () => {
    const openpgp = await import("openpgp");
    const message = await openpgp.createMessage({ binary: data });
    const config = {
      aeadProtect: true,
      s2kType: openpgp.enums.s2k.argon2 as enums.s2k.argon2,
      s2kArgon2Params: { passes: 1, parallelism: 1, memoryExponent: 16 },
    };
    const enc = Buffer.from((await openpgp.encrypt({ message, passwords: [PASS], format: "binary", config })) as Uint8Array);
    // SKESK v6 (new-format header, 2 bytes): version, count, cipher, AEAD, S2K length, then S2K type 4, salt (16), t, p, m.
    expect([enc[0], enc[2], enc[7]]).toEqual([0xc3, 6, 4]);
    expect(sha((await decrypt(pieces(enc, 3000))).data)).toBe(sha(data));
    const costly = Buffer.from(enc);
    costly[7 + 1 + 16] = 255; // t: passes
    const started = Date.now();
    const r = await outcome([costly]);
    expect(r.error).toBeInstanceOf(CorruptArchiveError);
    expect(r.error!.message).toMatch(/Argon2/);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it("a wrong passphrase is WrongPassphraseError before any output, naming no secret", async () => {
    for (const enc of [zipped, plain, lifeboat]) {
      const r = await outcome([enc], "not the passphrase");
      expect(r.when).toBe("header");
      expect(r.error).toBeInstanceOf(WrongPassphraseError);
      expect(r.error!.message).not.toContain(PASS);
      expect(r.error!.message).not.toContain("not the passphrase");
    }
  });

  it("cut short anywhere: CorruptArchiveError, never a clean end", async () => {
    for (const enc of [zipped, plain, lifeboat]) {
      for (const at of [10, 40, 200, 5000, Math.floor(enc.length / 2), enc.length - 30, enc.length - 21, enc.length - 1]) {
        const r = await outcome(pieces(enc.subarray(0, at), 4096));
        expect(r.error, `cut at ${at} of ${enc.length}`).toBeInstanceOf(CorruptArchiveError);
      }
    }
  });

  it("one byte altered anywhere in the encrypted data: CorruptArchiveError (the MDC, or the damage it causes first)", async () => {
    for (const enc of [zipped, plain, lifeboat]) {
      // Past the headers and the random prefix: altering those is a wrong passphrase (the quick check) or a bad header.
      for (const at of [120, Math.floor(enc.length / 3), enc.length - 100, enc.length - 15, enc.length - 1]) {
        const bad = Buffer.from(enc);
        bad[at] ^= 0x01;
        const r = await outcome(pieces(bad, 8192));
        expect(r.error, `byte ${at} of ${enc.length}`).toBeInstanceOf(CorruptArchiveError);
        expect(r.data).toBeUndefined();
      }
    }
  });

  it("a wrong passphrase that passes the quick check by chance (1 in 65,536) ends in CorruptArchiveError, not data", async () => {
    // Salted S2K without iteration keeps the search cheap: try passphrases until one passes the check.
    const enc = gpgEncrypt(data, ["--s2k-mode", "1", "--compress-algo", "none"]);
    expect(enc[0]).toBe(0x8c); // old-format SKESK: v4, AES-256, salted, SHA-1, then the salt
    expect([...enc.subarray(2, 6)]).toEqual([4, 9, 1, 2]);
    const salt = enc.subarray(6, 14);
    const seipd = 2 + enc[1];
    expect(enc[seipd]).toBe(0xc0 | 18); // new-format SEIPD
    const o = enc[seipd + 1];
    const seipdBody = seipd + 1 + (o < 192 ? 1 : o < 224 ? 2 : o === 255 ? 5 : 1);
    const head = enc.subarray(seipdBody + 1, seipdBody + 1 + 18);
    let lucky: string | null = null;
    for (let i = 0; i < 3_000_000 && !lucky; i++) {
      const candidate = `wrong-${i}`;
      const key = deriveS2kKey({ type: 1, hash: "sha1", salt, count: 0 }, Buffer.from(candidate), 32);
      const p = createDecipheriv("aes-256-cfb", key, Buffer.alloc(16)).update(head);
      if (p[14] === p[16] && p[15] === p[17]) lucky = candidate;
    }
    expect(lucky).not.toBeNull();
    let engine: DecryptEngine | null = null;
    const r = await decryptStream(Readable.from([enc]), lucky!, { onEngine: (e) => (engine = e) })
      .then(collect)
      .catch((e: Error) => e);
    // The native reader gets past the quick check, then the garbage fails: its packets, or the MDC.
    // (Garbage that happens to begin like a signed message goes to openpgp.js, which fails too.)
    expect(r).toBeInstanceOf(engine === "openpgp.js" ? Error : CorruptArchiveError);
  });

  it("data that is not OpenPGP is CorruptArchiveError before any output", async () => {
    for (const junk of [Buffer.from("SQLite format 3\0 not encrypted"), Buffer.alloc(0), randomBytes(5000).fill(0x41, 0, 1)]) {
      const r = await outcome([junk]);
      expect(r.when).toBe("header");
      expect(r.error).toBeInstanceOf(CorruptArchiveError);
    }
  });

  it("an error of the input itself reaches the output as it is", async () => {
    const input = new Readable({ read() {} });
    const s = decryptStream(input, PASS);
    input.push(lifeboat.subarray(0, 100_000));
    const out = await s;
    setTimeout(() => input.destroy(new Error("connection reset by the store")), 10);
    await expect(collect(out)).rejects.toThrow("connection reset by the store");
  });
});

describe("CfbDecipher (CFB as ECB of the shifted ciphertext)", () => {
  it("equals OpenSSL's CFB for every AES key size and any chunking", () => {
    for (const [name, len] of [
      ["aes-128-cfb", 16],
      ["aes-192-cfb", 24],
      ["aes-256-cfb", 32],
    ] as const) {
      const key = randomBytes(len);
      const ct = randomBytes(100_003);
      const want = createDecipheriv(name, key, Buffer.alloc(16)).update(ct);
      for (const max of [1, 15, 17, 4096, 65_537]) {
        const d = new CfbDecipher(name, key);
        const got = Buffer.concat([...pieces(ct, max, max).map((p) => d.update(p)), d.final()]);
        expect(got.equals(want), `${name}, pieces up to ${max}`).toBe(true);
      }
    }
  });
});

it("xorInto (WebAssembly for whole 16-byte blocks, JavaScript for the rest) equals a byte-by-byte XOR at every length", () => {
  for (const n of [0, 4, 16, 252, 256, 272, 4096, 65536, 65536 + 16, 3 * 65536 + 48, 1 << 20]) {
    const a = randomBytes(n);
    const b = randomBytes(n);
    const want = Buffer.alloc(n);
    for (let i = 0; i < n; i++) want[i] = a[i] ^ b[i];
    const out = Buffer.from(a);
    xorInto(out, b);
    expect(out.equals(want), `length ${n}`).toBe(true);
  }
});

it("peekCompressed looks at the first bytes only: 1 MiB of a ZIP bomb (1 GiB of zeros) is not inflated whole on the main thread", async () => {
  // What the native reader probes before it commits: the first decrypted bytes of a compressed packet.
  const zeros = Buffer.alloc(1 << 20);
  const deflate = zlib.createDeflateRaw({ level: 9 });
  const parts: Buffer[] = [];
  deflate.on("data", (c: Buffer) => parts.push(c));
  for (let i = 0; i < 1024; i++) if (!deflate.write(zeros)) await new Promise((r) => deflate.once("drain", r));
  await new Promise((r) => deflate.end(r));
  const bomb = Buffer.concat(parts);
  const before = process.memoryUsage().rss;
  const started = performance.now();
  expect(peekCompressed(1, bomb)).toBe(0);
  expect(performance.now() - started).toBeLessThan(100);
  expect(process.memoryUsage().rss - before).toBeLessThan(64 << 20);
}, 60_000);
