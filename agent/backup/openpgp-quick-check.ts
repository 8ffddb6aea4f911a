import { createDecipheriv, createHash } from "node:crypto";

/**
 * Does a passphrase open this OpenPGP message? Answered from its first bytes, the way `gpg` says
 * "Bad session key" at once, without streaming the message through openpgp.js.
 *
 * Why: an archive made by `gpg -c` carries no encrypted session key (the S2K output IS the key), so a
 * wrong passphrase is only noticed when the garbage it decrypts to fails to parse — and measured here,
 * about one wrong-passphrase attempt in 40 made openpgp.js's streaming decrypt wait forever instead
 * of failing. OpenPGP's "quick check" (RFC 4880 §5.13: the random prefix of an encrypted data packet
 * repeats its last two bytes) settles it from the first 18 bytes; the session key packet's algorithm
 * byte settles it for archives that do carry an encrypted session key (openpgp.js writes one).
 *
 * Supported: SKESK v4 (simple, salted, iterated+salted S2K with SHA-1/SHA-2) followed by SEIPD v1 with
 * AES-128/192/256 — what GnuPG 2.2/2.4 `-c` and Lifeboat write. Anything else is "unknown", and the
 * caller falls back to decrypting.
 */
export type QuickCheck = "ok" | "wrong" | "unknown";

const CIPHERS: Record<number, { name: string; keyLen: number }> = {
  7: { name: "aes-128-cfb", keyLen: 16 },
  8: { name: "aes-192-cfb", keyLen: 24 },
  9: { name: "aes-256-cfb", keyLen: 32 },
};
const HASHES: Record<number, string> = { 2: "sha1", 8: "sha256", 9: "sha384", 10: "sha512", 11: "sha224" };

interface Packet {
  tag: number;
  body: Buffer;
}

/** Reads packet headers (old and new format) from the start of a message; partial bodies give their first chunk. */
function readPackets(buf: Buffer, max: number): Packet[] {
  const out: Packet[] = [];
  let p = 0;
  while (p < buf.length && out.length < max) {
    const ctb = buf[p++];
    if (!(ctb & 0x80)) break;
    let tag: number;
    let len: number;
    if (ctb & 0x40) {
      tag = ctb & 0x3f;
      const o1 = buf[p++];
      if (o1 < 192) len = o1;
      else if (o1 < 224) len = ((o1 - 192) << 8) + buf[p++] + 192;
      else if (o1 === 255) {
        len = buf.readUInt32BE(p);
        p += 4;
      } else len = 1 << (o1 & 0x1f); // partial body: the first chunk is enough here
    } else {
      tag = (ctb >> 2) & 0x0f;
      const lt = ctb & 3;
      if (lt === 0) len = buf[p++];
      else if (lt === 1) {
        len = buf.readUInt16BE(p);
        p += 2;
      } else if (lt === 2) {
        len = buf.readUInt32BE(p);
        p += 4;
      } else len = buf.length - p; // indeterminate
    }
    out.push({ tag, body: buf.subarray(p, Math.min(buf.length, p + len)) });
    p += len;
  }
  return out;
}

/** RFC 4880 §3.7.1 string-to-key. */
function s2k(passphrase: Buffer, hashName: string, type: number, salt: Buffer, count: number, keyLen: number): Buffer {
  const parts: Buffer[] = [];
  for (let ctx = 0; Buffer.concat(parts).length < keyLen; ctx++) {
    const h = createHash(hashName);
    h.update(Buffer.alloc(ctx)); // each further context is preloaded with one more zero byte
    const data = type === 0 ? passphrase : Buffer.concat([salt, passphrase]);
    if (type === 3) {
      const total = Math.max(count, data.length);
      const chunk = Buffer.concat(Array.from({ length: Math.max(1, Math.floor(65536 / data.length)) }, () => data));
      let left = total;
      while (left >= chunk.length) {
        h.update(chunk);
        left -= chunk.length;
      }
      while (left > 0) {
        const n = Math.min(left, data.length);
        h.update(data.subarray(0, n));
        left -= n;
      }
    } else h.update(data);
    parts.push(h.digest());
  }
  return Buffer.concat(parts).subarray(0, keyLen);
}

/** Checks `passphrase` against the first bytes (a few hundred are plenty) of an OpenPGP message. */
export function quickCheckPassphrase(head: Buffer, passphrase: string): QuickCheck {
  try {
    const packets = readPackets(head, 2);
    if (packets.length < 2 || packets[0].tag !== 3 || packets[1].tag !== 18) return "unknown";
    const sk = packets[0].body;
    if (sk[0] !== 4) return "unknown";
    const cipher = CIPHERS[sk[1]];
    const s2kType = sk[2];
    const hashName = HASHES[sk[3]];
    if (!cipher || !hashName || ![0, 1, 3].includes(s2kType)) return "unknown";
    let p = 4;
    let salt: Buffer = Buffer.alloc(0);
    let count = 0;
    if (s2kType !== 0) {
      salt = sk.subarray(p, p + 8);
      p += 8;
    }
    if (s2kType === 3) {
      const c = sk[p++];
      count = (16 + (c & 15)) << ((c >> 4) + 6);
    }
    const derived = s2k(Buffer.from(passphrase, "utf8"), hashName, s2kType, salt, count, cipher.keyLen);
    let key: Buffer = derived;
    let dataCipher = cipher;
    const esk = sk.subarray(p);
    if (esk.length) {
      const d = createDecipheriv(cipher.name, derived, Buffer.alloc(16));
      const plain = Buffer.concat([d.update(esk), d.final()]);
      dataCipher = CIPHERS[plain[0]];
      if (!dataCipher || plain.length - 1 !== dataCipher.keyLen) return "wrong";
      key = plain.subarray(1);
    }
    const seipd = packets[1].body;
    if (seipd[0] !== 1 || seipd.length < 1 + 18) return "unknown";
    const d = createDecipheriv(dataCipher.name, key, Buffer.alloc(16));
    const prefix = d.update(seipd.subarray(1, 19));
    return prefix[14] === prefix[16] && prefix[15] === prefix[17] ? "ok" : "wrong";
  } catch {
    return "unknown";
  }
}
