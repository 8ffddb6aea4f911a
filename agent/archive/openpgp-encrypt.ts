import { createCipheriv, createHash, randomBytes, type Cipher, type Hash } from "node:crypto";
import { Transform } from "node:stream";
import { cachedS2kKey, cachedS2kKeyAsync, deriveS2kKey, deriveS2kKeyAsync } from "./openpgp-native";

/**
 * Lifeboat's OpenPGP writer: the message `gpg -c --cipher-algo AES256 --compress-algo none` writes,
 * produced with node:crypto one chunk at a time (RFC 4880 §3.7.1.3, §4.2.2.4, §5.3, §5.9, §5.13, §5.14):
 *
 *   SKESK v4   AES-256, iterated+salted S2K with SHA-256 (count byte 224: 16 MiB hashed), no
 *              encrypted session key: the S2K output is the session key, as GnuPG does it
 *   SEIPD v1   AES-256 CFB, zero IV, over
 *                18 random bytes (16 + the last two repeated: the quick passphrase check)
 *                literal packet ('b', no name, date 0), partial body lengths
 *                MDC packet: 0xD3 0x14 + SHA-1 of everything before it, including 0xD3 0x14
 *
 * GnuPG 2.2 and 2.4, openpgp.js and agent/archive's native reader all read it. Why not openpgp.js:
 * its web-streams plumbing held ~50 MB of buffers and cost ~0.7 s on a 200 MB backup (bench:backup);
 * here each input chunk is one cipher update and one hash update, and memory is a chunk or two.
 */

const AES256 = 9;
const SHA256 = 8;
const S2K_ITERATED_SALTED = 3;
/** openpgp.js's and GnuPG's usual strength: (16 + 0) << (14 + 6) = 16 MiB through SHA-256. */
const S2K_COUNT_BYTE = 224;
const TAG_SKESK = 3;
const TAG_LITERAL = 11;
const TAG_SEIPD = 18;
/** Partial body chunks of 2^16 bytes (RFC 4880 §4.2.2.4: a power of two, the first at least 512). */
const PARTIAL_LOG2 = 16;
const PARTIAL = 1 << PARTIAL_LOG2;
const PARTIAL_OCTET = 224 + PARTIAL_LOG2;

/** A new-format packet length for a final (or only) body part of `n` bytes. */
function definiteLength(n: number): Buffer {
  if (n < 192) return Buffer.from([n]);
  if (n < 8384) {
    const m = n - 192;
    return Buffer.from([(m >> 8) + 192, m & 0xff]);
  }
  const b = Buffer.alloc(5);
  b[0] = 0xff;
  b.writeUInt32BE(n, 1);
  return b;
}

/**
 * Frames a packet body of unknown length: whole 64 KiB parts as they fill, each behind a partial
 * length octet; `end` writes the rest behind a definite length. A body that never reaches 64 KiB
 * gets one definite length (a first partial part must be at least 512 bytes).
 */
class PacketFramer {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private started = false;

  constructor(
    private readonly tag: number,
    private readonly emit: (b: Buffer) => void,
  ) {}

  write(data: Buffer): void {
    if (data.length === 0) return;
    this.pending.push(data);
    this.pendingBytes += data.length;
    if (this.pendingBytes < PARTIAL) return;
    const all = this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending, this.pendingBytes);
    let off = 0;
    while (all.length - off >= PARTIAL) {
      this.head();
      this.emit(Buffer.from([PARTIAL_OCTET]));
      this.emit(all.subarray(off, off + PARTIAL));
      off += PARTIAL;
    }
    const rest = all.subarray(off);
    this.pending = rest.length ? [rest] : [];
    this.pendingBytes = rest.length;
  }

  end(): void {
    this.head();
    this.emit(definiteLength(this.pendingBytes));
    for (const p of this.pending) this.emit(p);
    this.pending = [];
    this.pendingBytes = 0;
  }

  private head(): void {
    if (this.started) return;
    this.started = true;
    this.emit(Buffer.from([0xc0 | this.tag]));
  }
}

/** The S2K salt this process gives messages that ask for a shared one (see EncryptOptions.sharedSalt). */
const processSalt = randomBytes(8);

export interface EncryptOptions {
  /**
   * Use this process's one S2K salt instead of a new one, so the 16 MiB key derivation runs once per
   * process and passphrase (cachedS2kKey), on both sides, rather than once per message. For the log's
   * many small segments, where it was most of their cost. The messages then share their AES key; each
   * still starts with its own 16 random bytes, through CFB, so no two encrypt alike, and a guess at the
   * passphrase costs an attacker the same 16 MiB hash either way. gpg reads them as any other.
   */
  sharedSalt?: boolean;
}

/** The SKESK packet and the session key it stands for. */
export interface PassphrasePacket {
  packet: Buffer;
  key: Buffer;
}

function s2kFor(opts: EncryptOptions) {
  const salt = opts.sharedSalt ? processSalt : randomBytes(8);
  const count = (16 + (S2K_COUNT_BYTE & 15)) << ((S2K_COUNT_BYTE >> 4) + 6);
  return { type: S2K_ITERATED_SALTED as 3, hash: "sha256", salt, count };
}

function packetFor(s2k: ReturnType<typeof s2kFor>, key: Buffer): PassphrasePacket {
  const body = Buffer.concat([Buffer.from([4, AES256, S2K_ITERATED_SALTED, SHA256]), s2k.salt, Buffer.from([S2K_COUNT_BYTE])]);
  return { packet: Buffer.concat([Buffer.from([0xc0 | TAG_SKESK]), definiteLength(body.length), body]), key };
}

function passphrasePacket(passphrase: string, opts: EncryptOptions): PassphrasePacket {
  const s2k = s2kFor(opts);
  const pass = Buffer.from(passphrase, "utf8");
  return packetFor(s2k, opts.sharedSalt ? cachedS2kKey(s2k, pass, 32) : deriveS2kKey(s2k, pass, 32));
}

/**
 * The passphrase packet and key for createEncryptStream, derived without holding the event loop
 * (the 16 MiB hash runs in slices between other work): what the agent's streams use.
 */
export async function preparePassphrasePacket(passphrase: string, opts: EncryptOptions = {}): Promise<PassphrasePacket> {
  const s2k = s2kFor(opts);
  const pass = Buffer.from(passphrase, "utf8");
  return packetFor(s2k, opts.sharedSalt ? await cachedS2kKeyAsync(s2k, pass, 32) : await deriveS2kKeyAsync(s2k, pass, 32));
}

/**
 * A Transform from plain bytes to a passphrase-encrypted OpenPGP message. Deriving the key hashes
 * 16 MiB (~10-50 ms): done here, synchronously, unless `prepared` (preparePassphrasePacket) is given.
 */
export function createEncryptStream(passphrase: string, opts: EncryptOptions = {}, prepared?: PassphrasePacket): Transform {
  const { packet, key } = prepared ?? passphrasePacket(passphrase, opts);
  let out: Buffer[] = [];
  const outer = new PacketFramer(TAG_SEIPD, (b) => out.push(b));
  const cipher: Cipher = createCipheriv("aes-256-cfb", key, Buffer.alloc(16));
  const mdc: Hash = createHash("sha1");
  /** Plaintext of the SEIPD body: hashed for the MDC, encrypted, framed. */
  const seal = (plain: Buffer) => {
    mdc.update(plain);
    outer.write(cipher.update(plain));
  };
  const inner = new PacketFramer(TAG_LITERAL, seal);
  const flush = (push: (b: Buffer) => void) => {
    if (out.length === 0) return;
    const chunk = out.length === 1 ? out[0] : Buffer.concat(out);
    out = [];
    push(chunk);
  };

  out.push(packet);
  outer.write(Buffer.from([1])); // SEIPD version 1
  const prefix = randomBytes(18);
  prefix[16] = prefix[14];
  prefix[17] = prefix[15];
  seal(prefix);
  // Literal data: binary, no file name, date 0 (what `gpg -c` of a pipe writes).
  inner.write(Buffer.from([0x62, 0, 0, 0, 0, 0]));

  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      try {
        inner.write(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
        flush((b) => this.push(b));
        cb();
      } catch (err) {
        cb(err as Error);
      }
    },
    flush(cb) {
      try {
        inner.end();
        const mdcHead = Buffer.from([0xd3, 0x14]);
        mdc.update(mdcHead);
        const trailer = Buffer.concat([mdcHead, mdc.digest()]);
        outer.write(cipher.update(trailer));
        const last = cipher.final();
        if (last.length) outer.write(last);
        outer.end();
        flush((b) => this.push(b));
        cb();
      } catch (err) {
        cb(err as Error);
      }
    },
  });
}
