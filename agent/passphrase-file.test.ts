import { describe, it, expect, afterAll } from "vitest";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, createWriteStream } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { AgentConfigError, readPassphrase } from "./config";
import { decryptStream, encryptStream } from "./archive";

/**
 * LIFEBOAT_PASSPHRASE_FILE is the file the seed job gives `gpg --passphrase-file`, and the file the
 * README's break-glass path gives gpg. The agent must take the very passphrase gpg takes from it, or
 * the seed job's archives do not open in the agent and the agent's do not open by hand. gpg takes the
 * first line's bytes up to "\n": a Windows line ending's "\r", a byte-order mark and spaces included.
 */

const work = mkdtempSync(path.join(tmpdir(), "lifeboat-passfile-"));
const home = mkdtempSync(path.join(tmpdir(), "lifeboat-passfile-gnupg-"));
afterAll(() => {
  execFileSync("gpgconf", ["--homedir", home, "--kill", "gpg-agent"], { stdio: "ignore" });
  rmSync(work, { recursive: true, force: true });
  rmSync(home, { recursive: true, force: true });
});
const gpg = (...args: string[]) => execFileSync("gpg", ["--homedir", home, "--batch", "--quiet", "--yes", ...args], { stdio: "pipe" });

async function collect(s: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

describe("the passphrase file, read as gpg --passphrase-file reads it", () => {
  const cases: [string, Buffer][] = [
    ["a Windows line ending", Buffer.from("two words\r\nsecond line\r\n")],
    ["spaces at both ends", Buffer.from("  padded pass  \n")],
    ["a UTF-8 byte-order mark and no newline", Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from("bom pass")])],
    ["non-ASCII letters", Buffer.from("Pässwört ünd 鍵\n")],
  ];
  for (const [what, content] of cases)
    it(`${what}: the seed job's gpg archive opens in the agent, and the agent's archive opens with gpg`, async () => {
      const file = path.join(work, `pass-${cases.findIndex((c) => c[0] === what)}`);
      writeFileSync(file, content, { mode: 0o600 });
      const passphrase = readPassphrase({ passphraseFile: file });
      const plain = path.join(file + ".plain");
      writeFileSync(plain, `payload for ${what}\n`);

      gpg("--passphrase-file", file, "--cipher-algo", "AES256", "-c", "-o", plain + ".gpg", plain);
      const opened = await collect(await decryptStream(Readable.from([readFileSync(plain + ".gpg")]), passphrase));
      expect(opened.toString()).toBe(`payload for ${what}\n`);

      await pipeline(await encryptStream(Readable.from([readFileSync(plain)]), passphrase), createWriteStream(plain + ".lifeboat.gpg"));
      gpg("--passphrase-file", file, "-d", "-o", plain + ".back", plain + ".lifeboat.gpg");
      expect(readFileSync(plain + ".back", "utf8")).toBe(`payload for ${what}\n`);
    });

  it("an empty or blank first line, and a first line that is not UTF-8, are refused with a sentence that holds no passphrase bytes", () => {
    for (const content of [Buffer.from(""), Buffer.from("\nsecond\n"), Buffer.from("   \r\n")]) {
      const file = path.join(work, "blank");
      writeFileSync(file, content);
      expect(() => readPassphrase({ passphraseFile: file })).toThrow(/is empty\. Put the backup passphrase on its first line/);
    }
    const latin1 = path.join(work, "latin1");
    writeFileSync(latin1, Buffer.from("caf\xe9 secret\n", "latin1"));
    let err: unknown;
    try {
      readPassphrase({ passphraseFile: latin1 });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AgentConfigError);
    expect((err as Error).message).toMatch(/is not UTF-8 text\. Save the passphrase as UTF-8/);
    expect((err as Error).message).not.toContain("secret");
  });
});
