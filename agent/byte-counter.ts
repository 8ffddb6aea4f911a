import { Transform } from "node:stream";

/** A pass-through that reports the running total of bytes that went through it (progress, pacing). */
export function byteCounter(onBytes: (total: number) => void): Transform {
  let n = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      n += chunk.length;
      onBytes(n);
      cb(null, chunk);
    },
  });
}
