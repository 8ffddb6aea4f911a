/**
 * When a Kubernetes object kept by kine was created, read from the stored value itself: kine rows
 * carry no clock, but every object's metadata.creationTimestamp does. k3s stores built-in types as
 * protobuf (`k8s\0` + runtime.Unknown{typeMeta = 1, raw = 2}, raw = the object with metadata = 1,
 * ObjectMeta.creationTimestamp = 8, Time{seconds = 1, nanos = 2}: k8s.io/apimachinery's
 * generated.proto) and custom resources as JSON. Only what is needed is decoded; anything else
 * (a tombstone, a value of another shape) gives null.
 */

const MAGIC = Buffer.from("k8s\u0000", "latin1");
// A creation time outside these years is not one (a misread varint, a foreign value).
const EARLIEST = Date.UTC(2000, 0, 1);
const LATEST = Date.UTC(2200, 0, 1);

/** Reads a base-128 varint at `i`; [value, next index] or null when it runs past `end` or over 10 bytes. */
function varint(buf: Uint8Array, i: number, end: number): [number, number] | null {
  let value = 0;
  let scale = 1;
  for (let n = 0; n < 10 && i < end; n++, i++) {
    const b = buf[i];
    value += (b & 0x7f) * scale;
    if (b < 0x80) return [value, i + 1];
    scale *= 128;
  }
  return null;
}

/** The bounds of length-delimited field `want` of the protobuf message in buf[start, end); null when absent or malformed. */
function lengthField(buf: Uint8Array, start: number, end: number, want: number): [number, number] | null {
  let i = start;
  while (i < end) {
    const key = varint(buf, i, end);
    if (!key) return null;
    i = key[1];
    const field = Math.floor(key[0] / 8);
    switch (key[0] % 8) {
      case 0: {
        const v = varint(buf, i, end);
        if (!v) return null;
        i = v[1];
        break;
      }
      case 1:
        i += 8;
        break;
      case 2: {
        const len = varint(buf, i, end);
        if (!len || len[1] + len[0] > end) return null;
        if (field === want) return [len[1], len[1] + len[0]];
        i = len[1] + len[0];
        break;
      }
      case 5:
        i += 4;
        break;
      default:
        return null; // groups (3, 4) are not used by Kubernetes; 6 and 7 do not exist
    }
  }
  return null;
}

/** The varint field `want` of a message (first occurrence), or null. */
function varintField(buf: Uint8Array, start: number, end: number, want: number): number | null {
  let i = start;
  while (i < end) {
    const key = varint(buf, i, end);
    if (!key) return null;
    i = key[1];
    const wire = key[0] % 8;
    if (wire === 0) {
      const v = varint(buf, i, end);
      if (!v) return null;
      if (Math.floor(key[0] / 8) === want) return v[0];
      i = v[1];
    } else if (wire === 2) {
      const len = varint(buf, i, end);
      if (!len) return null;
      i = len[1] + len[0];
    } else if (wire === 1) i += 8;
    else if (wire === 5) i += 4;
    else return null;
  }
  return null;
}

const plausible = (ms: number) => (Number.isFinite(ms) && ms >= EARLIEST && ms < LATEST ? new Date(ms) : null);

/** metadata.creationTimestamp of a stored Kubernetes object (protobuf or JSON), or null. Never throws. */
export function objectCreationTime(value: Uint8Array | string | null | undefined): Date | null {
  if (value === null || value === undefined) return null;
  try {
    const buf = typeof value === "string" ? Buffer.from(value, "utf8") : value;
    if (buf.length > MAGIC.length && Buffer.from(buf.buffer, buf.byteOffset, MAGIC.length).equals(MAGIC)) {
      const raw = lengthField(buf, MAGIC.length, buf.length, 2);
      const meta = raw && lengthField(buf, raw[0], raw[1], 1);
      const time = meta && lengthField(buf, meta[0], meta[1], 8);
      const seconds = time && varintField(buf, time[0], time[1], 1);
      return seconds ? plausible(seconds * 1000) : null;
    }
    if (buf[0] === 0x7b /* { */) {
      const created = (JSON.parse(Buffer.from(buf).toString("utf8")) as { metadata?: { creationTimestamp?: unknown } }).metadata?.creationTimestamp;
      return typeof created === "string" ? plausible(Date.parse(created)) : null;
    }
  } catch {
    // Not JSON after all, or a value cut short: no time to tell.
  }
  return null;
}
