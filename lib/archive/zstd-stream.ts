import { CompressStream, DecompressStream } from "zstd-napi";
import type { Transform } from "node:stream";

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
