export { encryptStream, decryptStream, WrongPassphraseError, CorruptArchiveError } from "./openpgp-stream";
export { zstdCompress, zstdDecompress } from "./zstd-stream";
