import { createCipheriv, createDecipheriv, createHash, type Cipher, type Hash } from "node:crypto";
import zlib from "node:zlib";
import { CorruptArchiveError, PublicKeyEncryptedError, WrongPassphraseError } from "./errors";

/**
 * A native reader for the OpenPGP messages backups actually are: a passphrase (SKESK v4: simple,
 * salted or iterated+salted S2K; MD5/SHA-1/SHA-2/RIPEMD-160; with or without an encrypted session key)
 * protecting one SEIPD v1 packet (AES or Camellia in OpenPGP's CFB mode, random prefix with its quick check,
 * MDC SHA-1 at the end) that holds one literal data packet, optionally inside one compressed packet
 * (uncompressed, ZIP = raw deflate, ZLIB), binary or ASCII-armored. That is what `gpg -c` (GnuPG
 * 2.2/2.4 without AEAD, with or without `--armor`) and `encryptStream` write. Facts from RFC 4880 §3.7, §4.2, §5.3, §5.6, §5.9, §5.13, §5.14, RFC 9580.
 *
 * Why: openpgp.js does the same crypto through node:crypto, but its web-streams plumbing cost more
 * than twice the crypto on a 90 MB backup. Here everything runs synchronously per chunk: one
 * decipher.update, one hash update, a few slices.
 *
 * Anything else (public-key or AEAD messages, other ciphers or hashes, BZip2, signed messages) is
 * reported as `UnsupportedMessage` while the head is read, before any output, so the caller can hand
 * the bytes to openpgp.js instead.
 */

/** The message uses something this reader does not implement: use openpgp.js. Never escapes agent/archive. */
export class UnsupportedMessage extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = "UnsupportedMessage";
  }
}

const TAG = {
  PKESK: 1,
  SIGNATURE: 2,
  SKESK: 3,
  ONE_PASS_SIGNATURE: 4,
  COMPRESSED: 8,
  SED: 9,
  MARKER: 10,
  LITERAL: 11,
  SEIPD: 18,
  AEAD: 20,
  PADDING: 21,
} as const;

/**
 * OpenPGP symmetric algorithm ids this reader decrypts (all with a 16-byte block). Camellia too:
 * `gpg --cipher-algo CAMELLIA256` writes it and openpgp.js 6 cannot read it.
 */
const CIPHERS: Record<number, { name: string; keyLen: number }> = {
  7: { name: "aes-128-cfb", keyLen: 16 },
  8: { name: "aes-192-cfb", keyLen: 24 },
  9: { name: "aes-256-cfb", keyLen: 32 },
  11: { name: "camellia-128-cfb", keyLen: 16 },
  12: { name: "camellia-192-cfb", keyLen: 24 },
  13: { name: "camellia-256-cfb", keyLen: 32 },
};
const BLOCK = 16;
/** Algorithm ids that exist but are not implemented here (a decrypted session key naming one is plausible). */
const KNOWN_OTHER_CIPHERS = new Set([1, 2, 3, 4, 10]);

/** OpenPGP hash algorithm ids usable for S2K here. */
const HASHES: Record<number, string> = { 1: "md5", 2: "sha1", 3: "ripemd160", 8: "sha256", 9: "sha384", 10: "sha512", 11: "sha224" };

const MDC_LENGTH = 22; // 0xD3 0x14 + SHA-1
/**
 * Passphrase packets a message may hold: gpg writes one, openpgp.js one per password. Each may ask
 * for 65 MB of hashing, and every one is tried: a crafted message with thousands held a drill (and
 * the lock) for hours. As many as the cache of derived keys holds, so none is derived twice.
 */
const MAX_SKESKS = 16;
const EMPTY: Buffer = Buffer.alloc(0);

function corrupt(message: string): CorruptArchiveError {
  return new CorruptArchiveError(message);
}

// ---------------------------------------------------------------------------------------------
// Packet framing

type LengthKind = "definite" | "partial" | "indeterminate";

interface HeaderInfo {
  tag: number;
  kind: LengthKind;
  length: number;
  size: number;
}

/** A new-format body length at `off` (RFC 4880 §4.2.2); null when more bytes are needed. */
function readNewLength(buf: Buffer, off: number): { kind: LengthKind; length: number; size: number } | null {
  if (off >= buf.length) return null;
  const o = buf[off];
  if (o < 192) return { kind: "definite", length: o, size: 1 };
  if (o < 224) {
    if (off + 2 > buf.length) return null;
    return { kind: "definite", length: ((o - 192) << 8) + buf[off + 1] + 192, size: 2 };
  }
  if (o < 255) return { kind: "partial", length: 2 ** (o & 0x1f), size: 1 };
  if (off + 5 > buf.length) return null;
  return { kind: "definite", length: buf.readUInt32BE(off + 1), size: 5 };
}

/** A packet header at `off`, old or new format (RFC 4880 §4.2); null when more bytes are needed. */
function readHeader(buf: Buffer, off: number, notPackets: string): HeaderInfo | null {
  if (off >= buf.length) return null;
  const ctb = buf[off];
  if ((ctb & 0x80) === 0) throw corrupt(notPackets);
  if (ctb & 0x40) {
    const len = readNewLength(buf, off + 1);
    return len && { tag: ctb & 0x3f, kind: len.kind, length: len.length, size: 1 + len.size };
  }
  const tag = (ctb >> 2) & 0x0f;
  const lt = ctb & 3;
  if (lt === 3) return { tag, kind: "indeterminate", length: 0, size: 1 };
  const n = 1 << lt; // 1, 2 or 4 length bytes
  if (off + 1 + n > buf.length) return null;
  const length = n === 1 ? buf[off + 1] : n === 2 ? buf.readUInt16BE(off + 1) : buf.readUInt32BE(off + 1);
  return { tag, kind: "definite", length, size: 1 + n };
}

/** What a packet's body goes to. */
interface BodySink {
  body(chunk: Buffer): void;
  /** The packet ended where its framing says. */
  end(): void;
}

/**
 * Splits a byte stream into packets and hands each packet's body to the sink `open` returns,
 * following partial body lengths. Bytes arrive in arbitrary pieces.
 */
class PacketParser {
  private pending = EMPTY;
  private state: "header" | "body" | "length" = "header";
  private remaining = 0;
  private kind: LengthKind = "definite";
  private sink: BodySink | null = null;

  constructor(
    private readonly open: (h: HeaderInfo) => BodySink,
    /** The error when the bytes are not packets at all. */
    private readonly notPackets: string,
  ) {}

  write(chunk: Buffer): void {
    // Only a header or a length split across pieces is kept (at most 5 bytes).
    const buf = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = EMPTY;
    let off = 0;
    while (off < buf.length) {
      if (this.state === "header") {
        const h = readHeader(buf, off, this.notPackets);
        if (!h) {
          this.pending = Buffer.from(buf.subarray(off));
          return;
        }
        off += h.size;
        this.sink = this.open(h);
        this.kind = h.kind;
        this.remaining = h.length;
        this.state = "body";
        if (h.kind === "definite" && h.length === 0) this.finishPacket();
        continue;
      }
      if (this.state === "length") {
        const l = readNewLength(buf, off);
        if (!l) {
          this.pending = Buffer.from(buf.subarray(off));
          return;
        }
        off += l.size;
        this.kind = l.kind;
        this.remaining = l.length;
        this.state = "body";
        if (l.kind === "definite" && l.length === 0) this.finishPacket();
        continue;
      }
      if (this.kind === "indeterminate") {
        this.sink!.body(off === 0 ? buf : buf.subarray(off));
        return;
      }
      const n = Math.min(this.remaining, buf.length - off);
      if (n > 0) this.sink!.body(buf.subarray(off, off + n));
      off += n;
      this.remaining -= n;
      if (this.remaining === 0) {
        if (this.kind === "partial") this.state = "length";
        else this.finishPacket();
      }
    }
  }

  private finishPacket(): void {
    const sink = this.sink!;
    this.sink = null;
    this.state = "header";
    sink.end();
  }

  /** The stream ended: fine between packets or inside an indeterminate-length one. */
  end(): void {
    if (this.state === "body" && this.kind === "indeterminate") this.finishPacket();
    else if (this.state !== "header" || this.pending.length) throw corrupt("The archive ends early: it stops inside an OpenPGP packet.");
  }
}

/** Collects a (small) packet body. */
class Collect implements BodySink {
  private parts: Buffer[] = [];
  private size = 0;
  constructor(
    private readonly limit: number,
    private readonly done: (body: Buffer) => void,
  ) {}
  body(chunk: Buffer): void {
    this.size += chunk.length;
    if (this.size > this.limit) throw corrupt("An OpenPGP header packet is implausibly large.");
    this.parts.push(chunk);
  }
  end(): void {
    this.done(Buffer.concat(this.parts));
  }
}

const SKIP: BodySink = { body() {}, end() {} };

/** A literal data packet's body (RFC 4880 §5.9): format, file name, date, then the data. */
class LiteralSink implements BodySink {
  private head: Buffer[] = [];
  private headSize = 0;
  private skip = -1; // bytes of header still to drop, once known
  constructor(private readonly emit: (b: Buffer) => void) {}
  body(chunk: Buffer): void {
    if (this.skip < 0) {
      this.head.push(chunk);
      this.headSize += chunk.length;
      if (this.headSize < 2) return;
      const h = Buffer.concat(this.head);
      this.head = [];
      this.skip = 2 + h[1] + 4;
      chunk = h;
    }
    if (this.skip > 0) {
      const n = Math.min(this.skip, chunk.length);
      this.skip -= n;
      chunk = chunk.subarray(n);
    }
    if (chunk.length) this.emit(chunk);
  }
  end(): void {
    if (this.skip !== 0) throw corrupt("The archive ends early: its literal data packet is cut short.");
  }
}

const NOT_PACKETS_INSIDE =
  "The archive's decrypted data is not OpenPGP packets: it is damaged, or the passphrase is wrong and passed OpenPGP's 16-bit quick check by chance.";

/** Body sinks for the packets a message's plaintext (or a compressed packet's content) may hold: exactly one literal packet, or (at the top) one compressed packet. */
class ContentParser {
  private readonly parser: PacketParser;
  private packets = 0;
  /** Set from the first packet: "literal" or the compression algorithm id. */
  content: "literal" | number | null = null;

  constructor(
    private readonly emit: (b: Buffer) => void,
    private readonly allowCompressed: boolean,
  ) {
    this.parser = new PacketParser((h) => this.open(h), NOT_PACKETS_INSIDE);
  }

  private open(h: HeaderInfo): BodySink {
    this.packets++;
    if (this.packets > 1) throw corrupt("The archive holds more packets than one literal data packet.");
    if (h.tag === TAG.LITERAL) {
      this.content = "literal";
      return new LiteralSink(this.emit);
    }
    if (h.tag === TAG.COMPRESSED && this.allowCompressed) {
      let first = true;
      return {
        body: (chunk) => {
          if (first) {
            first = false;
            const algo = chunk[0];
            if (algo === 3) throw new UnsupportedMessage("compression algorithm 3 (BZip2)");
            if (algo > 3) throw corrupt(`The archive's compressed packet names an unknown algorithm (${algo}).`);
            this.content = algo;
            chunk = chunk.subarray(1);
          }
          if (chunk.length) this.emit(chunk);
        },
        end: () => {
          if (first) throw corrupt("The archive's compressed packet is empty.");
        },
      };
    }
    // A signed message (one-pass signature or signature first) is legitimate, just not handled here.
    if (h.tag === TAG.ONE_PASS_SIGNATURE || h.tag === TAG.SIGNATURE || h.tag === TAG.MARKER)
      throw new UnsupportedMessage(`packet type ${h.tag} inside the encrypted data`);
    throw corrupt(NOT_PACKETS_INSIDE);
  }

  write(chunk: Buffer): void {
    this.parser.write(chunk);
  }

  end(): void {
    this.parser.end();
    if (this.packets === 0) throw corrupt("The archive's encrypted data holds no literal data.");
  }
}

// ---------------------------------------------------------------------------------------------
// CFB decryption

/**
 * XOR of two regions in WebAssembly (16 bytes at a time): `xor(dst, src, len)` does dst ^= src in its
 * own memory, len a multiple of 16. Hand-assembled (the text form is beside it). The same loop in
 * JavaScript ran in V8's interpreter for the first ~30 MB a process decrypted (~220 MB/s, against
 * ~1.2 GB/s once optimized), and a restore or drill is one such process: most of its decryption ran
 * cold. WebAssembly is compiled before it runs, so it is fast from the first byte.
 */
const XOR_WASM =
  "0061736d01000000" + // magic, version
  "01070160037f7f7f00" + // type: (i32 i32 i32) -> ()
  "03020100" + // one function of that type
  "0503010001" + // memory: 1 page to start
  "070d02036d656d020003786f720000" + // export "mem", "xor"
  "0a3e013c01017f" + // code: one body, a local $end
  "200020026a2103" + // $end = $dst + $len
  "02400340" + // block, loop
  "200020034f0d01" + // br_if out when $dst >= $end
  "20002000fd0004002001fd000400fd51fd0b0400" + // v128.store($dst, v128.load($dst) ^ v128.load($src))
  "200041106a2100200141106a2101" + // $dst += 16, $src += 16
  "0c000b0b0b"; // br loop, end, end, end

interface Xor {
  mem: WebAssembly.Memory;
  xor(dst: number, src: number, len: number): void;
}
let xorModule: Xor | null | undefined;

function loadXor(): Xor | null {
  try {
    const instance = new WebAssembly.Instance(new WebAssembly.Module(Buffer.from(XOR_WASM, "hex")));
    return instance.exports as unknown as Xor;
  } catch {
    return null; // no WebAssembly SIMD here: the JavaScript loop below does it
  }
}

/** out ^= src (same length; both 4-byte aligned). */
export function xorInto(out: Buffer, src: Buffer): void {
  const n = out.length;
  if (xorModule === undefined) xorModule = loadXor();
  if (xorModule && n >= 256 && n % 16 === 0) {
    const { mem, xor } = xorModule;
    const need = Math.ceil((2 * n) / 65536) - mem.buffer.byteLength / 65536;
    if (need > 0) mem.grow(need);
    const m = new Uint8Array(mem.buffer);
    m.set(out, 0);
    m.set(src, n);
    xor(0, n, n);
    out.set(m.subarray(0, n));
    return;
  }
  const words = n >> 2;
  const o32 = new Int32Array(out.buffer, out.byteOffset, words);
  const c32 = new Int32Array(src.buffer, src.byteOffset, words);
  for (let i = 0; i < words; i++) o32[i] ^= c32[i];
  for (let i = words << 2; i < n; i++) out[i] ^= src[i];
}

/**
 * CFB-mode decryption (no resync; OpenPGP's SEIPD v1 and plain CFB are the same thing with a zero
 * IV) computed as P_i = C_i XOR E(C_{i-1}): the keystream of a whole chunk is one ECB encryption of
 * the ciphertext shifted by a block. OpenSSL decrypts CFB one block after another (~300 MB/s here);
 * its ECB runs the blocks in parallel (several times faster), so this is what makes native
 * decryption as fast as gpg. Output lags the input by under one block until `final`.
 */
export class CfbDecipher {
  private readonly ecb: Cipher;
  private prev: Buffer;
  private carry: Buffer = EMPTY;
  /** Reused for the shifted ciphertext: only the keystream leaves this object. */
  private scratch: Buffer = EMPTY;

  constructor(cipherName: string, key: Buffer) {
    this.ecb = createCipheriv(cipherName.replace(/-cfb$/, "-ecb"), key, null);
    this.ecb.setAutoPadding(false);
    this.prev = Buffer.alloc(BLOCK); // the IV: all zeros
  }

  update(chunk: Buffer): Buffer {
    const total = this.carry.length + chunk.length;
    const n = total - (total % BLOCK);
    if (n === 0) {
      this.carry = Buffer.concat([this.carry, chunk]);
      return EMPTY;
    }
    // shifted = previous block ‖ the ciphertext but its last block; after it, the last block itself.
    if (this.scratch.length < n + BLOCK) this.scratch = Buffer.allocUnsafe(Math.max(n + BLOCK, 1 << 16));
    const shifted = this.scratch;
    this.prev.copy(shifted, 0);
    this.carry.copy(shifted, BLOCK);
    chunk.copy(shifted, BLOCK + this.carry.length, 0, n - this.carry.length);
    const keystream = this.ecb.update(shifted.subarray(0, n));
    const out = keystream.byteOffset % 4 === 0 ? keystream : Buffer.from(keystream);
    // out ^= ciphertext (which is shifted[BLOCK .. BLOCK + n]).
    xorInto(out, shifted.subarray(BLOCK, BLOCK + n));
    this.prev = Buffer.from(shifted.subarray(n, n + BLOCK));
    const rest = chunk.subarray(n - this.carry.length);
    this.carry = rest.length ? Buffer.from(rest) : EMPTY;
    return out.subarray(0, n);
  }

  /** The last, partial block. */
  final(): Buffer {
    if (!this.carry.length) return EMPTY;
    const ks = this.ecb.update(this.prev);
    const out = Buffer.allocUnsafe(this.carry.length);
    for (let i = 0; i < out.length; i++) out[i] = this.carry[i] ^ ks[i];
    this.carry = EMPTY;
    return out;
  }
}

// ---------------------------------------------------------------------------------------------
// Keys

/** A passphrase packet's string-to-key parameters (RFC 4880 §3.7). */
export interface S2kParams {
  type: 0 | 1 | 3;
  hash: string;
  salt: Buffer;
  count: number;
}

interface Skesk {
  cipher: number;
  s2k: S2kParams;
  encryptedKey: Buffer;
}

/**
 * Derives an S2K key somewhere other than this thread's sliced hashing (a point restore's log: on its
 * scratch's worker, idle while the base stages, apply-ahead.ts). Given to decryptStream.
 */
export type KeyDeriver = (s2k: S2kParams, passphrase: Buffer, keyLen: number) => Promise<Buffer>;

/**
 * The most Argon2 work (RFC 9580 S2K type 4, which openpgp.js derives for the reader, on the main
 * thread) a passphrase packet may ask for: passes × memory in KiB, at most 2 GiB of memory (m = 21,
 * RFC 9580's first recommendation). 4 GiB-passes allow that once, or openpgp.js's default (3 passes over
 * 64 MiB) twenty times; 255 passes over 64 MiB held the agent 20 s, over 1 GiB minutes.
 */
const MAX_ARGON2_KIB = 2 ** 22;
const MAX_ARGON2_M = 21;

/** Refuses a SKESK body (v4, v5 or v6) whose Argon2 S2K asks for more than MAX_ARGON2_KIB or MAX_ARGON2_M. */
function checkArgon2(body: Buffer): void {
  const at = body[0] === 4 ? 2 : body[0] === 5 ? 3 : body[0] === 6 ? 5 : -1;
  if (at < 0 || body[at] !== 4 || body.length < at + 20) return;
  const t = body[at + 17];
  const m = body[at + 19];
  if (m > MAX_ARGON2_M || t * 2 ** m > MAX_ARGON2_KIB)
    throw corrupt(
      `The archive's passphrase packet asks for an Argon2 key derivation of ${t} passes over 2^${m} KiB, far more than backup tools use: it is damaged or crafted.`,
    );
}

/** Parses a SKESK packet body; throws UnsupportedMessage for versions, ciphers, S2K types or hashes not implemented. */
function parseSkesk(body: Buffer): Skesk {
  if (body.length < 4) throw corrupt("The archive's passphrase packet is damaged.");
  checkArgon2(body);
  if (body[0] !== 4) throw new UnsupportedMessage(`SKESK version ${body[0]}`);
  const cipher = body[1];
  if (!CIPHERS[cipher]) throw new UnsupportedMessage(`cipher ${cipher}`);
  const type = body[2];
  const hash = HASHES[body[3]];
  if (type !== 0 && type !== 1 && type !== 3) throw new UnsupportedMessage(`S2K type ${type}`);
  if (!hash) throw new UnsupportedMessage(`S2K hash ${body[3]}`);
  let off = 4;
  let salt: Buffer = EMPTY;
  let count = 0;
  if (type !== 0) {
    if (body.length < off + 8) throw corrupt("The archive's passphrase packet is damaged.");
    salt = body.subarray(off, off + 8);
    off += 8;
  }
  if (type === 3) {
    if (body.length < off + 1) throw corrupt("The archive's passphrase packet is damaged.");
    const c = body[off++];
    count = (16 + (c & 15)) << ((c >> 4) + 6);
  }
  return { cipher, s2k: { type, hash, salt, count }, encryptedKey: body.subarray(off) };
}

/**
 * RFC 4880 §3.7.1: the key is the hash of (salt ‖ passphrase), repeated to `count` bytes for the
 * iterated type; when one hash is too short, further hash contexts are preloaded with 1, 2, … zero bytes.
 * A generator that yields after about every SLICE_BYTES hashed, so deriveS2kKeyAsync can let the event
 * loop run in between; deriveS2kKey runs it through at once.
 */
function* s2kSteps(s2k: S2kParams, passphrase: Buffer, keyLen: number): Generator<void, Buffer> {
  derivations++;
  const unit = Buffer.concat([s2k.salt, passphrase]);
  const parts: Buffer[] = [];
  let produced = 0;
  for (let i = 0; produced < keyLen; i++) {
    const h = createHash(s2k.hash);
    if (i) h.update(Buffer.alloc(i));
    if (s2k.type !== 3) h.update(unit);
    else {
      const total = Math.max(s2k.count, unit.length);
      // Whole repetitions of the unit in big blocks: a block is a multiple of it, so any prefix continues it correctly.
      const block = Buffer.alloc(unit.length * Math.max(1, Math.ceil(65536 / Math.max(1, unit.length))));
      for (let o = 0; o < block.length; o += unit.length) unit.copy(block, o);
      let left = total;
      let sinceYield = 0;
      while (left >= block.length) {
        h.update(block);
        left -= block.length;
        sinceYield += block.length;
        if (sinceYield >= SLICE_BYTES) {
          sinceYield = 0;
          yield;
        }
      }
      if (left > 0) h.update(block.subarray(0, left));
    }
    const d = h.digest();
    parts.push(d);
    produced += d.length;
  }
  return Buffer.concat(parts).subarray(0, keyLen);
}

/**
 * Hashed between two turns of the event loop by deriveS2kKeyAsync: 1 MiB is under 1 ms with SHA
 * instructions and ~3 ms without, where the whole 16 MiB (gpg's default count is up to 64 MiB) held
 * the agent's main thread 11-50 ms per message, twice in a row when a backup's two uploads started.
 */
const SLICE_BYTES = 1 << 20;

export function deriveS2kKey(s2k: S2kParams, passphrase: Buffer, keyLen: number): Buffer {
  const steps = s2kSteps(s2k, passphrase, keyLen);
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

async function deriveSliced(s2k: S2kParams, passphrase: Buffer, keyLen: number): Promise<Buffer> {
  const steps = s2kSteps(s2k, passphrase, keyLen);
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/**
 * Sliced derivations run one after another, in the order they were asked for: side by side, each
 * took as long as all of them together, and the first message (a restore's database, whose
 * decompression waits for it) waited for the last one's key too. Same total time, the first done first.
 */
let s2kTurn: Promise<unknown> = Promise.resolve();
function inTurn<T>(derive: () => Promise<T>): Promise<T> {
  const mine = s2kTurn.then(derive);
  s2kTurn = mine.catch(() => undefined);
  return mine;
}

/** deriveS2kKey without holding the event loop: the hashing goes on in slices between other work. */
export function deriveS2kKeyAsync(s2k: S2kParams, passphrase: Buffer, keyLen: number): Promise<Buffer> {
  return inTurn(() => deriveSliced(s2k, passphrase, keyLen));
}

/**
 * S2K keys derived in this process, by S2K parameters, salt and a hash of the passphrase. Messages
 * that share a salt share their key: the log's segments of one agent process do (openpgp-encrypt.ts,
 * `sharedSalt`), and a restore through thousands of them then hashes 16 MiB once instead of once per
 * segment (~60% of a segment's cost). Only keys are held, never a passphrase; a few entries.
 */
const derivedKeys = new Map<string, Buffer>();
let derivations = 0;

/** Empties the cache of derived keys (benchmarks time a restore as a process that just started runs it). */
export function forgetDerivedKeys(): void {
  derivedKeys.clear();
}

/** How many S2K keys this process has derived (for tests: the cache's hits derive none). */
export function s2kDerivations(): number {
  return derivations;
}
const DERIVED_KEYS_MAX = MAX_SKESKS;

const cacheId = (s2k: S2kParams, passphrase: Buffer, keyLen: number) =>
  [s2k.type, s2k.hash, s2k.count, keyLen, s2k.salt.toString("hex"), createHash("sha256").update(passphrase).digest("hex")].join(":");

function remember(id: string, key: Buffer): Buffer {
  if (derivedKeys.size >= DERIVED_KEYS_MAX) derivedKeys.delete(derivedKeys.keys().next().value!);
  derivedKeys.set(id, key);
  return key;
}

/** deriveS2kKey through the process's cache of derived keys. */
export function cachedS2kKey(s2k: S2kParams, passphrase: Buffer, keyLen: number): Buffer {
  const id = cacheId(s2k, passphrase, keyLen);
  return derivedKeys.get(id) ?? remember(id, deriveS2kKey(s2k, passphrase, keyLen));
}

/** Keys being derived by a KeyDeriver, by cache id: messages asking meanwhile wait for the same one. */
const derivingElsewhere = new Map<string, Promise<Buffer>>();

/** cachedS2kKey, derived with deriveS2kKeyAsync (or `derive`, when given) when it is not in the cache yet. */
export async function cachedS2kKeyAsync(s2k: S2kParams, passphrase: Buffer, keyLen: number, derive?: KeyDeriver): Promise<Buffer> {
  const id = cacheId(s2k, passphrase, keyLen);
  const known = derivedKeys.get(id) ?? derivingElsewhere.get(id);
  if (known) return known;
  if (derive) {
    const p = derive(s2k, passphrase, keyLen).then((key) => remember(id, Buffer.from(key)));
    derivingElsewhere.set(id, p);
    return p.finally(() => derivingElsewhere.delete(id));
  }
  // Looked up again once its turn comes: a message with the same salt asked just before may have derived it.
  return derivedKeys.get(id) ?? inTurn(async () => derivedKeys.get(id) ?? remember(id, await deriveSliced(s2k, passphrase, keyLen)));
}

/**
 * Before a message is decrypted: derives, without holding the event loop, the keys of the passphrase
 * packets at its start, so the decryptor's own (synchronous) derivation finds them in the cache.
 * `head` is the message's first bytes; resolves false when they do not yet reach past its passphrase
 * packets (call again with more), true when done (also when there was nothing to derive, or the head
 * is not what this reader handles: the decryptor then reports that as it always does).
 */
export async function prepareMessageKeys(raw: Buffer, passphrase: string, derive?: KeyDeriver): Promise<boolean> {
  const head = binaryHead(raw);
  const found: Skesk[] = [];
  let off = 0;
  try {
    for (;;) {
      const h = readHeader(head, off, "not OpenPGP");
      if (!h) return raw.length >= 4096;
      if (h.tag !== TAG.SKESK && h.tag !== TAG.PKESK && h.tag !== TAG.MARKER && h.tag !== TAG.PADDING) break;
      if (h.kind !== "definite") return true;
      if (off + h.size + h.length > head.length) return raw.length >= 4096;
      if (h.tag === TAG.SKESK) found.push(parseSkesk(head.subarray(off + h.size, off + h.size + h.length)));
      if (found.length > MAX_SKESKS) return true; // the decryptor refuses the message
      off += h.size + h.length;
    }
  } catch {
    return true;
  }
  const pass = Buffer.from(passphrase, "utf8");
  for (const p of found) await cachedS2kKeyAsync(p.s2k, pass, CIPHERS[p.cipher].keyLen, derive);
  return true;
}

/** The session keys a SKESK may yield with this passphrase (none when its encrypted key cannot be one). */
function sessionKeyOf(p: Skesk, passphrase: Buffer): { cipher: number; key: Buffer } | "other-cipher" | null {
  const c = CIPHERS[p.cipher];
  const s2kKey = cachedS2kKey(p.s2k, passphrase, c.keyLen);
  if (p.encryptedKey.length === 0) return { cipher: p.cipher, key: s2kKey };
  // The session key is encrypted with the S2K key in plain CFB mode with an all-zero IV.
  const d = createDecipheriv(c.name, s2kKey, Buffer.alloc(BLOCK));
  const plain = Buffer.concat([d.update(p.encryptedKey), d.final()]);
  const algo = plain[0];
  const target = CIPHERS[algo];
  if (target) return plain.length === 1 + target.keyLen ? { cipher: algo, key: plain.subarray(1) } : null;
  return KNOWN_OTHER_CIPHERS.has(algo) ? "other-cipher" : null;
}

// ---------------------------------------------------------------------------------------------
// ASCII armor

const ARMOR_BEGIN = "-----BEGIN PGP MESSAGE-----";
const ARMOR_END = "-----END PGP MESSAGE-----";

/**
 * Whether a message starting with byte `b` is ASCII-armored (`gpg --armor`, RFC 4880 §6.2): a
 * binary message starts with a packet header, whose high bit is set; armor starts with its
 * "-----BEGIN" line (or blank lines before it).
 */
const startsArmor = (b: number) => b === 0x2d || b === 0x0a || b === 0x0d || b === 0x20 || b === 0x09;

/**
 * Turns an ASCII-armored message back into its binary packets, line by line as its bytes arrive:
 * the BEGIN line, armor headers up to a blank line, base64 lines, the optional checksum line, the
 * END line, then nothing but blank lines. Its CRC-24 is not checked: the MDC inside covers the data.
 */
class Dearmor {
  private state: "begin" | "headers" | "body" | "checksum" | "end" = "begin";
  private line = "";
  /** Base64 characters not yet decoded (fewer than 4). */
  private b64 = "";

  /** Decodes what `chunk` completes. */
  write(chunk: Buffer): Buffer {
    const out: Buffer[] = [];
    let text = this.line + chunk.toString("latin1");
    let nl: number;
    while ((nl = text.indexOf("\n")) >= 0) {
      const decoded = this.take(text.slice(0, nl).replace(/\r$/, ""));
      if (decoded) out.push(decoded);
      text = text.slice(nl + 1);
    }
    if (text.length > 4096) throw corrupt("The archive is ASCII-armored, but a line of its armor is implausibly long: it is damaged.");
    this.line = text;
    return out.length === 1 ? out[0] : Buffer.concat(out);
  }

  /** The message ended: it must have ended with its END line. */
  end(): Buffer {
    const decoded = this.line ? this.take(this.line.replace(/\r$/, "")) : null;
    this.line = "";
    if (this.state !== "end") throw corrupt(`The archive ends early: its ASCII armor stops before its "${ARMOR_END}" line.`);
    return decoded ?? EMPTY;
  }

  private take(raw: string): Buffer | null {
    const line = raw.trimEnd();
    switch (this.state) {
      case "begin":
        if (line === "") return null;
        if (line !== ARMOR_BEGIN)
          throw corrupt(
            line.startsWith("-----BEGIN PGP")
              ? `The archive is ASCII-armored, but it is not an encrypted message (it begins "${line.slice(0, 60)}").`
              : "The archive is not OpenPGP data (or its packets are damaged).",
          );
        this.state = "headers";
        return null;
      case "headers":
        if (line === "") this.state = "body";
        else if (!/^[^:\s]+: /.test(line)) {
          // No armor headers and no blank line before the data (some writers): this is data already.
          this.state = "body";
          return this.take(raw);
        }
        return null;
      case "body":
      case "checksum":
        if (line === ARMOR_END) {
          this.state = "end";
          if (this.b64.length) throw corrupt("The archive's ASCII armor is damaged: its base64 data does not end on a whole group.");
          return null;
        }
        if (this.state === "checksum") throw corrupt("The archive's ASCII armor is damaged: something follows its checksum line.");
        if (line.startsWith("=") && line.length === 5) {
          this.state = "checksum";
          return null;
        }
        if (!/^[A-Za-z0-9+/]*={0,2}$/.test(line)) throw corrupt("The archive's ASCII armor is damaged: a line of it is not base64.");
        {
          const all = this.b64 + line;
          const whole = all.endsWith("=") ? all.length : all.length - (all.length % 4);
          this.b64 = all.slice(whole);
          return whole ? Buffer.from(all.slice(0, whole), "base64") : null;
        }
      case "end":
        if (line === "") return null;
        throw corrupt(
          line === ARMOR_BEGIN
            ? "The archive holds more than one OpenPGP message."
            : "The archive has data after its ASCII armor's END line: it is damaged or was altered.",
        );
    }
  }
}

/** `head` as binary packets: dearmored when it is ASCII armor (as far as its whole lines go), else as it is. */
function binaryHead(head: Buffer): Buffer {
  if (!head.length || !startsArmor(head[0])) return head;
  try {
    return new Dearmor().write(head);
  } catch {
    return EMPTY;
  }
}

// ---------------------------------------------------------------------------------------------
// The message

/**
 * A synchronous OpenPGP decryptor: feed it the message's bytes with `write`, then `end`. Output
 * (what `take` returns) is the literal data, or, when `compression` is 1 or 2, the compressed
 * packet's content still to inflate (and to parse with `LiteralReader`).
 *
 * Throws WrongPassphraseError when no passphrase packet opens it (detected by the quick check
 * before any output), CorruptArchiveError for damage, truncation or a failed MDC check (at the
 * end), UnsupportedMessage for anything else (always before any output).
 */
export class NativeDecryptor {
  private readonly passphrase: Buffer;
  private readonly outer: PacketParser;
  private readonly skesks: Skesk[] = [];
  private unsupported: string | null = null;
  private sawPkesk = false;
  private skeskPackets = 0;
  private seipdState: "none" | "open" | "done" = "none";
  private version = -1;
  private prefix: Buffer[] = [];
  private prefixSize = 0;
  /** Plaintext bytes of the random prefix still to come (they go into the MDC only). */
  private prefixLeft = BLOCK + 2;
  private decipher: CfbDecipher | null = null;
  private mdc: Hash | null = null;
  /** The last (up to) 22 bytes of plaintext: the MDC packet if nothing follows. */
  private held: Buffer = EMPTY;
  private readonly inner: ContentParser;
  private out: Buffer[] = [];
  private ended = false;
  /** Set by the first byte: null for a binary message, else what reads its ASCII armor. */
  private dearmor: Dearmor | null | undefined = undefined;

  constructor(passphrase: string) {
    this.passphrase = Buffer.from(passphrase, "utf8");
    this.inner = new ContentParser((b) => this.out.push(b), true);
    this.outer = new PacketParser((h) => this.openOuter(h), "The archive is not OpenPGP data (or its packets are damaged).");
  }

  /** "literal", a compression algorithm id (0 none, 1 ZIP, 2 ZLIB), or null before the plaintext's first packet. */
  get content(): "literal" | number | null {
    return this.inner.content;
  }

  private openOuter(h: HeaderInfo): BodySink {
    if (this.seipdState !== "none") throw corrupt("The archive has data after its encrypted data packet.");
    // Encrypted data for public keys only: no passphrase opens it, whatever reads it (openpgp.js said
    // only that the passphrase was wrong).
    if ((h.tag === TAG.SEIPD || h.tag === TAG.SED || h.tag === TAG.AEAD) && this.sawPkesk && !this.skesks.length && !this.unsupported)
      throw new PublicKeyEncryptedError();
    switch (h.tag) {
      case TAG.SKESK:
        if (h.kind !== "definite") throw corrupt("The archive's passphrase packet is damaged.");
        if (++this.skeskPackets > MAX_SKESKS)
          throw corrupt(`The archive holds more than ${MAX_SKESKS} passphrase packets (backups hold one): it is damaged or crafted.`);
        return new Collect(4096, (body) => {
          try {
            this.skesks.push(parseSkesk(body));
          } catch (err) {
            if (!(err instanceof UnsupportedMessage)) throw err;
            this.unsupported ??= err.message;
          }
        });
      case TAG.PKESK:
        this.sawPkesk = true;
        return SKIP;
      case TAG.MARKER:
      case TAG.PADDING:
        return SKIP;
      case TAG.SEIPD:
        if (!this.skesks.length) throw new UnsupportedMessage(this.unsupported ?? (this.sawPkesk ? "public-key encrypted" : "no passphrase packet"));
        this.seipdState = "open";
        return { body: (b) => this.seipdBody(b), end: () => this.seipdEnd() };
      case TAG.SED:
        throw new UnsupportedMessage("encrypted data without integrity protection");
      case TAG.AEAD:
        throw new UnsupportedMessage("AEAD encrypted data");
      default:
        throw new UnsupportedMessage(`packet type ${h.tag} where encrypted data was expected`);
    }
  }

  private seipdBody(chunk: Buffer): void {
    if (this.version < 0) {
      this.version = chunk[0];
      if (this.version === 2) throw new UnsupportedMessage("SEIPD version 2");
      if (this.version !== 1) throw corrupt(`The archive's encrypted data packet has an unknown version (${this.version}).`);
      chunk = chunk.subarray(1);
    }
    if (!this.decipher) {
      this.prefix.push(chunk);
      this.prefixSize += chunk.length;
      if (this.prefixSize < BLOCK + 2) return;
      chunk = Buffer.concat(this.prefix);
      this.prefix = [];
      this.openSession(chunk.subarray(0, BLOCK + 2));
    }
    this.plaintext(this.decipher!.update(chunk));
  }

  /** Finds the passphrase packet whose key passes the quick check (RFC 4880 §5.13) on the random prefix. */
  private openSession(head: Buffer): void {
    let otherCipher = false;
    for (const p of this.skesks) {
      const sk = sessionKeyOf(p, this.passphrase);
      if (sk === "other-cipher") otherCipher = true;
      if (!sk || sk === "other-cipher") continue;
      const prefix = createDecipheriv(CIPHERS[sk.cipher].name, sk.key, Buffer.alloc(BLOCK)).update(head);
      if (prefix[BLOCK - 2] !== prefix[BLOCK] || prefix[BLOCK - 1] !== prefix[BLOCK + 1]) continue;
      this.decipher = new CfbDecipher(CIPHERS[sk.cipher].name, sk.key);
      this.mdc = createHash("sha1");
      return;
    }
    if (otherCipher) throw new UnsupportedMessage("session key for another cipher");
    throw new WrongPassphraseError();
  }

  /** Plaintext after the prefix: everything but the last 22 bytes (the MDC packet) is content. */
  private plaintext(p: Buffer): void {
    if (this.prefixLeft > 0) {
      const n = Math.min(this.prefixLeft, p.length);
      this.mdc!.update(p.subarray(0, n));
      this.prefixLeft -= n;
      p = p.subarray(n);
    }
    if (!p.length) return;
    // The last 22 bytes seen may be the MDC packet: they wait (as a view, not a copy) until more follows.
    if (p.length >= MDC_LENGTH) {
      if (this.held.length) this.release(this.held);
      this.release(p.subarray(0, p.length - MDC_LENGTH));
      this.held = p.subarray(p.length - MDC_LENGTH);
    } else {
      const all = Buffer.concat([this.held, p]);
      this.release(all.subarray(0, Math.max(0, all.length - MDC_LENGTH)));
      this.held = all.subarray(Math.max(0, all.length - MDC_LENGTH));
    }
  }

  private release(c: Buffer): void {
    if (!c.length) return;
    this.mdc!.update(c);
    this.inner.write(c);
  }

  private seipdEnd(): void {
    if (!this.decipher) throw corrupt("The archive ends early: its encrypted data stops before it begins.");
    this.plaintext(this.decipher.final());
    const t = this.held;
    if (this.prefixLeft > 0) throw corrupt("The archive ends early: its encrypted data stops inside its random prefix.");
    if (t.length !== MDC_LENGTH || t[0] !== 0xd3 || t[1] !== 0x14)
      throw corrupt("The archive is truncated or was altered: its modification detection code (MDC) is missing.");
    this.mdc!.update(t.subarray(0, 2));
    if (!this.mdc!.digest().equals(t.subarray(2)))
      throw corrupt("The archive was altered (or is cut short): its modification detection code (MDC) does not match.");
    this.inner.end();
    this.seipdState = "done";
  }

  /** Whether a passphrase packet's key passed the quick check on the encrypted data (the passphrase opens it). */
  get sessionOpened(): boolean {
    return this.decipher !== null;
  }

  /** Whether the message is ASCII-armored (known from its first byte). */
  get armored(): boolean {
    return !!this.dearmor;
  }

  /** Feeds message bytes. */
  write(chunk: Buffer): void {
    if (!chunk.length) return;
    if (this.dearmor === undefined) this.dearmor = startsArmor(chunk[0]) ? new Dearmor() : null;
    this.outer.write(this.dearmor ? this.dearmor.write(chunk) : chunk);
  }

  /** The message ended: checks it is complete and its MDC matches. Safe to call twice. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.dearmor) this.outer.write(this.dearmor.end());
    this.outer.end();
    if (this.seipdState === "none") {
      if (!this.skesks.length && (this.unsupported || this.sawPkesk)) throw new UnsupportedMessage(this.unsupported ?? "public-key encrypted");
      throw corrupt("The archive ends early, or is not an encrypted OpenPGP message: it holds no encrypted data.");
    }
    if (this.seipdState !== "done") throw corrupt("The archive ends early: its encrypted data never ends.");
  }

  /** Output produced since the last call. */
  take(): Buffer[] {
    const o = this.out;
    this.out = [];
    return o;
  }
}

/** Parses the content of a compressed packet (after inflating): one literal data packet. */
export class LiteralReader {
  private readonly parser: ContentParser;
  private out: Buffer[] = [];
  constructor() {
    this.parser = new ContentParser((b) => this.out.push(b), false);
  }
  write(chunk: Buffer): void {
    this.parser.write(chunk);
  }
  end(): void {
    this.parser.end();
  }
  take(): Buffer[] {
    const o = this.out;
    this.out = [];
    return o;
  }
}

const PEEK_BYTES = 4096;

/**
 * The first byte inside a compressed packet's content, from its first bytes (null: not enough yet).
 * Used to check, before committing to the native reader, that it holds a literal packet.
 * Throws CorruptArchiveError when the data does not inflate.
 */
export function peekCompressed(algo: number, start: Buffer): number | null {
  if (!start.length) return null;
  if (algo === 0) return start[0];
  // Only the first bytes: the first output of deflate comes after a block header of at most a few
  // hundred bytes, and 4 KiB inflate to at most ~4 MiB. The whole of `start` (up to PROBE_LIMIT,
  // 1 MiB) of a ZIP bomb inflated to 1 GiB here, synchronously, on the agent's main thread.
  const head = start.subarray(0, PEEK_BYTES);
  try {
    const opts = { finishFlush: zlib.constants.Z_SYNC_FLUSH };
    const out = algo === 1 ? zlib.inflateRawSync(head, opts) : zlib.inflateSync(head, opts);
    return out.length ? out[0] : null;
  } catch (err) {
    throw new CorruptArchiveError(`The archive's compressed data is damaged: ${(err as Error).message}.`, { cause: err });
  }
}

/** Whether `ctb` begins a literal data packet (old or new format). */
export function isLiteralTag(ctb: number): boolean {
  if ((ctb & 0x80) === 0) return false;
  return (ctb & 0x40 ? ctb & 0x3f : (ctb >> 2) & 0x0f) === TAG.LITERAL;
}
