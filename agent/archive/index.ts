export { encryptStream, decryptStream, WrongPassphraseError, CorruptArchiveError, type DecryptEngine, type DecryptOptions } from "./openpgp-stream";
export { zstdCompress, zstdDecompress } from "./zstd-stream";
