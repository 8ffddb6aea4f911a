export {
  encryptStream,
  decryptStream,
  WrongPassphraseError,
  PublicKeyEncryptedError,
  CorruptArchiveError,
  type DecryptEngine,
  type DecryptOptions,
} from "./openpgp-stream";
export { zstdCompress, zstdDecompress } from "./zstd-stream";
export { UnreadableArchiveError } from "./errors";
