import { createRequire } from "node:module";
import { Transform, type TransformCallback } from "node:stream";
import { Worker } from "node:worker_threads";
import { CompressStream, DecompressStream } from "zstd-napi";

/** A zstd compressor Transform (native, streaming; level 3 like the `zstd` CLI's default). */
export function zstdCompress(level = 3): Transform {
  return new CompressStream({ compressionLevel: level });
}

/**
 * A zstd decompressor Transform. It errors when the input is not zstd ("Unknown frame descriptor")
 * or ends inside a frame ("Stream ended in middle of compressed data frame"), so a truncated archive
 * never passes as a complete one. Empty input yields empty output: callers check what they unpacked.
 */
export function zstdDecompress(): Transform {
  return new DecompressStream();
}

const require = createRequire(import.meta.url);
/** zstd-napi's native binding (its package has no export map); resolved here so a bundled agent finds it in node_modules. */
const ZSTD_BINDING = require.resolve("zstd-napi/binding.js");

// Plain CommonJS: eval workers do not go through the TypeScript loader. The loop is zstd-napi's
// DecompressStream's, with 512 KiB output buffers (fewer, bigger messages back).
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const binding = require(workerData.binding);
const dctx = new binding.DCtx();
const OUT = 512 * 1024;
let inFrame = false;
parentPort.on("message", (m) => {
  if (m.end) {
    parentPort.postMessage(inFrame ? { error: "Stream ended in middle of compressed data frame" } : { done: true });
    return;
  }
  try {
    let src = Buffer.from(m.buf, m.off, m.len);
    const outs = [];
    let dst = Buffer.allocUnsafe(OUT);
    let used = 0;
    for (;;) {
      const [ret, produced, consumed] = dctx.decompressStream(dst.subarray(used), src);
      used += produced;
      src = src.subarray(consumed);
      if (used === dst.length) {
        outs.push(dst);
        dst = Buffer.allocUnsafe(OUT);
        used = 0;
        continue;
      }
      if (src.length === 0) {
        inFrame = ret !== 0;
        break;
      }
    }
    if (used) outs.push(dst.subarray(0, used));
    parentPort.postMessage({ outs: outs.map((b) => ({ buf: b.buffer, len: b.length })) }, outs.map((b) => b.buffer));
  } catch (err) {
    parentPort.postMessage({ error: String((err && err.message) || err) });
  }
});
`;

type WorkerReply = { outs: { buf: ArrayBuffer; len: number }[] } | { error: string } | { done: true };

/**
 * A zstd decompressor like zstdDecompress (same errors), that decompresses on a worker thread: the
 * main thread keeps downloading and decrypting while the worker inflates, so the two overlap on
 * two cores (a restore's stage step spent ~0.3 s of 0.7 s in zstd on the main thread). Feed it big
 * chunks (a few hundred KiB): each is one message to the worker and back. With `transferInput`, chunks that
 * own their whole memory are moved to the worker instead of copied: they are unusable afterwards,
 * so only for chunks nobody else holds.
 */
export function zstdDecompressOffThread(opts: { transferInput?: boolean } = {}): Transform {
  return new OffThreadDecompress(opts.transferInput ?? false);
}

class OffThreadDecompress extends Transform {
  private readonly worker: Worker;
  /** The callback of the chunk (or the flush) the worker is working on. */
  private waiting: ((err?: Error | null) => void) | null = null;

  constructor(private readonly transferInput: boolean) {
    // Room for the decryptor to work ahead while the worker is busy.
    super({ writableHighWaterMark: 4 << 20, readableHighWaterMark: 4 << 20 });
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { binding: ZSTD_BINDING } });
    this.worker.on("message", (m: WorkerReply) => this.reply(m));
    this.worker.on("error", (err) => this.destroy(err));
    this.worker.on("exit", (code) => {
      if (this.waiting) this.settle(new Error(`the zstd worker stopped (exit ${code})`));
    });
  }

  private settle(err?: Error | null): void {
    const cb = this.waiting;
    this.waiting = null;
    cb?.(err);
  }

  private reply(m: WorkerReply): void {
    if ("error" in m) return this.settle(new Error(m.error));
    if ("outs" in m) for (const o of m.outs) this.push(Buffer.from(o.buf, 0, o.len));
    this.settle();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    let own: Uint8Array = chunk;
    if (!(this.transferInput && chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength)) {
      // A copy with memory of its own (never from Buffer's shared pool, which must not be moved).
      own = new Uint8Array(chunk.length);
      own.set(chunk);
    }
    this.waiting = cb;
    this.worker.postMessage({ buf: own.buffer, off: 0, len: own.length }, [own.buffer as ArrayBuffer]);
  }

  override _flush(cb: TransformCallback): void {
    this.waiting = (err) => {
      void this.worker.terminate();
      cb(err);
    };
    this.worker.postMessage({ end: true });
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    this.waiting = null;
    void this.worker.terminate();
    cb(err);
  }
}
