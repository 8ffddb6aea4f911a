import { createRequire } from "node:module";
import { Transform, type TransformCallback } from "node:stream";
import { Worker } from "node:worker_threads";
import { CompressStream } from "zstd-napi";
import { CorruptArchiveError, UnreadableArchiveError } from "./errors";

/** A zstd compressor Transform (native, streaming; level 3 like the `zstd` CLI's default). */
export function zstdCompress(level = 3): Transform {
  return new CompressStream({ compressionLevel: level });
}

const require = createRequire(import.meta.url);
/** zstd-napi's native binding (its package has no export map); resolved here so a bundled agent finds it in node_modules. */
const ZSTD_BINDING = require.resolve("zstd-napi/binding.js");

/**
 * Output the worker produces per round trip. A 32 kB zstd bomb expands to gigabytes from one input
 * chunk: zstd-napi's own DecompressStream produces all of it in one synchronous call (seconds on the
 * main thread, all of it in memory). Here the worker hands back at most this much and waits to be
 * asked for more, which the stream does only when its reader keeps up: memory and the main thread's
 * share of the work stay bounded, and a byte limit downstream stops a bomb after one batch.
 */
const BATCH = 1 << 20;

// Plain CommonJS: eval workers do not go through the TypeScript loader. The loop is zstd-napi's
// DecompressStream's, with 512 KiB output buffers, stopping after BATCH bytes of output: the rest of
// the input waits for a "more" message.
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const binding = require(workerData.binding);
const dctx = new binding.DCtx();
const OUT = 512 * 1024;
let inFrame = false;
let src = null;
let flushing = false;
function run() {
  try {
    const outs = [];
    let produced = 0;
    let dst = Buffer.allocUnsafe(OUT);
    let used = 0;
    let more = false;
    for (;;) {
      const [ret, n, consumed] = dctx.decompressStream(dst.subarray(used), src);
      used += n;
      produced += n;
      src = src.subarray(consumed);
      const full = used === dst.length;
      if (full) {
        outs.push(dst);
        dst = Buffer.allocUnsafe(OUT);
        used = 0;
      }
      if (!full && src.length === 0) {
        inFrame = ret !== 0;
        break;
      }
      if (produced >= workerData.batch) {
        more = true;
        break;
      }
    }
    if (used) outs.push(dst.subarray(0, used));
    if (!more) src = null;
    parentPort.postMessage({ outs: outs.map((b) => ({ buf: b.buffer, off: b.byteOffset, len: b.length })), more }, outs.map((b) => b.buffer));
  } catch (err) {
    src = null;
    parentPort.postMessage({ error: String((err && err.message) || err) });
  }
}
parentPort.on("message", (m) => {
  if (m.end) {
    parentPort.postMessage(inFrame ? { error: "Stream ended in middle of compressed data frame", cutShort: true } : { done: true });
    return;
  }
  if (m.more) return run();
  src = Buffer.from(m.buf, m.off, m.len);
  run();
});
`;

type WorkerReply = { outs: { buf: ArrayBuffer; off: number; len: number }[]; more: boolean } | { error: string; cutShort?: boolean } | { done: true };

/**
 * A zstd decompressor Transform that runs on a worker thread: the main thread keeps downloading and
 * decrypting while the worker inflates (the two overlap on two cores), and however well the input
 * compresses (a bomb), the main thread never does more than copy batches of at most 1 MiB, and only
 * as fast as the reader takes them. Frames in a row decode as one stream, like `zstd -d`.
 *
 * Errors: CorruptArchiveError when the input is not zstd or is damaged, or when it ends inside a
 * frame (cut short); a plain Error when the worker itself stops. Empty input yields empty output:
 * callers check what they unpacked. Feed it big chunks (a few hundred KiB): each is one message to
 * the worker. With `transferInput`, chunks that own their whole memory are moved to the worker
 * instead of copied: they are unusable afterwards, so only for chunks nobody else holds.
 */
export function zstdDecompress(opts: { transferInput?: boolean } = {}): Transform {
  return new OffThreadDecompress(opts.transferInput ?? false);
}

const HEAD_BYTES = 512;

/** Data that is whole but was compressed otherwise (or not at all): by its first bytes. */
const OTHER_FORMATS: { what: string; undo: string; is(head: Buffer): boolean }[] = [
  { what: "gzip data", undo: "gzip -d", is: (h) => h[0] === 0x1f && h[1] === 0x8b },
  { what: "xz data", undo: "xz -d", is: (h) => h.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])) },
  { what: "bzip2 data", undo: "bzip2 -d", is: (h) => h.subarray(0, 3).toString("latin1") === "BZh" },
  { what: "lz4 data", undo: "lz4 -d", is: (h) => h.readUInt32LE(0) === 0x184d2204 },
  { what: "an uncompressed tar archive", undo: "", is: (h) => h.subarray(257, 262).toString("latin1") === "ustar" },
  { what: "an uncompressed SQLite database", undo: "", is: (h) => h.subarray(0, 16).toString("latin1") === "SQLite format 3\0" },
];

function zstdError(m: { error: string; cutShort?: boolean }, head: Buffer): CorruptArchiveError {
  if (m.cutShort) return new CorruptArchiveError("The archive ends early: its zstd data stops in the middle of a frame.");
  // Not zstd from its first byte: say what it is (the seed job's `zstd` swapped for another tool).
  const other = head.length >= 4 && head.readUInt32LE(0) !== 0xfd2fb528 ? OTHER_FORMATS.find((f) => f.is(head)) : undefined;
  if (other)
    return new UnreadableArchiveError(
      `Its data is ${other.what}, not zstd: it was made with another tool than the one its name says.${other.undo ? ` Decompress it with \`${other.undo}\`, compress it with \`zstd\`, and restore that.` : " Compress it with `zstd` and restore that."}`,
    );
  // zstd's decoders, the CLI's included, refuse a window over 128 MiB (2^27) unless told to take
  // more: `zstd --long=28` and up, from a pipe (the window is then not bounded by a known size).
  if (/too much memory/i.test(m.error))
    return new UnreadableArchiveError(
      "Its zstd data was compressed with a window over 128 MiB (zstd --long=28 or more), which the restore does not decode (it would hold that much memory). Decompress it with `zstd -d --long=31`, compress it again without --long, and restore that.",
    );
  // A frame compressed with a dictionary (`zstd -D`) names it; without it the frame cannot be read.
  if (/dictionary/i.test(m.error))
    return new UnreadableArchiveError(
      "Its zstd data was compressed with a dictionary (zstd -D), which the restore does not have. Decompress it with `zstd -d -D <that dictionary>`, compress it again without one, and restore that.",
    );
  return new CorruptArchiveError(`The archive's zstd data is damaged (zstd: ${m.error}).`);
}

class OffThreadDecompress extends Transform {
  private readonly worker: Worker;
  /** The callback of the chunk (or the flush) the worker is working on. */
  private waiting: ((err?: Error | null) => void) | null = null;
  /** The worker holds more output of the current chunk; ask for it when the reader wants more. */
  private moreHeld = false;
  /** The input's first bytes (a copy), to tell what an input that is not zstd is. */
  private head: Buffer = Buffer.alloc(0);

  constructor(private readonly transferInput: boolean) {
    // Room for the decryptor to work ahead while the worker is busy.
    super({ writableHighWaterMark: 4 << 20, readableHighWaterMark: 4 << 20 });
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { binding: ZSTD_BINDING, batch: BATCH } });
    // Only a chunk in progress keeps the process alive (a stalled reader must not hold a CLI run open).
    this.worker.unref();
    this.worker.on("message", (m: WorkerReply) => this.reply(m));
    this.worker.on("error", (err) => this.destroy(err));
    this.worker.on("exit", (code) => {
      if (this.waiting) this.settle(new Error(`the zstd worker stopped (exit ${code})`));
    });
  }

  private settle(err?: Error | null): void {
    const cb = this.waiting;
    this.waiting = null;
    this.moreHeld = false;
    this.worker.unref();
    cb?.(err);
  }

  private reply(m: WorkerReply): void {
    if (this.destroyed) return;
    if ("error" in m) return this.settle(zstdError(m, this.head));
    if ("done" in m) return this.settle();
    for (const o of m.outs) this.push(Buffer.from(o.buf, o.off, o.len));
    if (!m.more) return this.settle();
    // More output of this chunk is waiting in the worker: fetch it now, or once the reader drained.
    if (this.readableLength < this.readableHighWaterMark) this.worker.postMessage({ more: true });
    else this.moreHeld = true;
  }

  override _read(size: number): void {
    if (this.moreHeld) {
      this.moreHeld = false;
      this.worker.postMessage({ more: true });
    }
    super._read(size);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.head.length < HEAD_BYTES) this.head = Buffer.concat([this.head, chunk.subarray(0, HEAD_BYTES - this.head.length)]);
    let own: Uint8Array = chunk;
    if (!(this.transferInput && chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength)) {
      // A copy with memory of its own (never from Buffer's shared pool, which must not be moved).
      own = new Uint8Array(chunk.length);
      own.set(chunk);
    }
    this.waiting = cb;
    this.worker.ref();
    this.worker.postMessage({ buf: own.buffer, off: 0, len: own.length }, [own.buffer as ArrayBuffer]);
  }

  override _flush(cb: TransformCallback): void {
    this.waiting = (err) => {
      void this.worker.terminate();
      cb(err);
    };
    // The end of the stream is work in progress too: without the ref, a process with nothing else
    // to wait on (a CLI, a benchmark reading files) exits before the worker answers (exit code 13).
    this.worker.ref();
    this.worker.postMessage({ end: true });
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    this.waiting = null;
    void this.worker.terminate();
    cb(err);
  }
}
