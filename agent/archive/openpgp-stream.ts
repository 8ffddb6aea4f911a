import { PassThrough, Readable, Transform, pipeline, type Duplex } from "node:stream";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import zlib from "node:zlib";
import { createEncryptStream, preparePassphrasePacket, type EncryptOptions } from "./openpgp-encrypt";
import { CorruptArchiveError, PublicKeyEncryptedError, UnreadableArchiveError, WrongPassphraseError } from "./errors";
import { LiteralReader, NativeDecryptor, UnsupportedMessage, isLiteralTag, peekCompressed, prepareMessageKeys, type KeyDeriver } from "./openpgp-native";

export { WrongPassphraseError, PublicKeyEncryptedError, CorruptArchiveError };

/** openpgp.js is loaded only when a message needs it (most never do): it is large. */
const loadOpenpgp = () => import("openpgp");

/**
 * Encrypts a stream with a passphrase as OpenPGP: AES-256, SEIPD v1, no OpenPGP compression, like
 * `gpg -c --cipher-algo AES256 --compress-algo none` (openpgp-encrypt.ts). GnuPG 2.2 and 2.4 read it.
 * Streams: memory stays bounded whatever the input size. An error of `input` reaches the output, also one
 * it had before this call.
 */
export async function encryptStream(input: Readable, passphrase: string, opts: EncryptOptions = {}): Promise<Readable> {
  // pipeline(), not pipe(): an input that failed (or closed early) before this call ends the output
  // too. With pipe() the output waited for an end that never came (a backup whose check failed while
  // its upload was being set up hung, one run in five).
  // The key is derived first, in slices (the agent's main thread keeps answering meanwhile). An input
  // that fails during that wait keeps its error in `errored`, which pipeline() passes on.
  input.on("error", () => {});
  const prepared = await preparePassphrasePacket(passphrase, opts);
  return pipeline(input, createEncryptStream(passphrase, opts, prepared), () => {});
}

/** Which implementation decrypted a message: Lifeboat's native reader, or openpgp.js for everything else. */
export type DecryptEngine = "native" | "openpgp.js";

export interface DecryptOptions {
  /** Told which engine decrypts this message (and, for openpgp.js, why the native reader passed). */
  onEngine?(engine: DecryptEngine, reason: string | null): void;
  /** "openpgp.js" skips the native reader (benchmarks compare the two); default: native when it can. */
  engine?: "auto" | "openpgp.js";
  /** Where the native reader's passphrase keys are derived when not known yet; default: this thread, in slices. */
  derive?: KeyDeriver;
}

/**
 * Decrypts an OpenPGP passphrase-encrypted stream (from the agent or from `gpg -c`, GnuPG 2.2/2.4).
 * The common case (SKESK v4 + SEIPD v1 with AES or Camellia, see openpgp-native.ts) is read natively, anything
 * else by openpgp.js; both behave the same way:
 *
 * Rejects with WrongPassphraseError or CorruptArchiveError before any byte is produced when the header
 * is bad. The output streams at once, so integrity is only known at its end: a truncated or altered
 * archive makes the returned stream error (with CorruptArchiveError). Write it to a temporary file and
 * keep that only when the stream ended cleanly. An error of `input` itself is passed on as it is, and
 * an input that closes before its end is an error too.
 *
 * Consume the result with `pipeline()` or `for await`: a short archive can fail before the caller's
 * code runs again after the await (stream events run before promise continuations), and such an
 * error is kept in the stream's `errored` state, which both report, rather than thrown as an
 * unhandled 'error' event.
 */
export async function decryptStream(input: Readable, passphrase: string, opts: DecryptOptions = {}): Promise<Readable> {
  if (opts.engine === "openpgp.js") {
    opts.onEngine?.("openpgp.js", "asked for");
    return decryptWithOpenpgp(input, passphrase);
  }
  const head = await readHead(input, passphrase, opts.derive);
  if (head.kind === "fallback") {
    opts.onEngine?.("openpgp.js", head.reason);
    return decryptWithOpenpgp(head.replay, passphrase, head.armored, head.passphraseChecked);
  }
  opts.onEngine?.("native", null);
  return head.stream;
}

/**
 * How far the head may reach before the native reader commits without having seen inside a
 * compressed packet (its first bytes normally inflate at once).
 */
const PROBE_LIMIT = 1 << 20;

type Head = { kind: "native"; stream: Readable } | { kind: "fallback"; reason: string; replay: Readable; armored: boolean; passphraseChecked: boolean };

const asBuffer = (c: Buffer | Uint8Array | string): Buffer => (Buffer.isBuffer(c) ? c : Buffer.from(c as Uint8Array));

/**
 * Reads the start of `input` into the native reader until it knows what the message holds: then it
 * either keeps it (nothing read is lost: output so far is handed on) or gives every byte read so far,
 * followed by the rest of `input`, to openpgp.js.
 */
function readHead(input: Readable, passphrase: string, derive?: KeyDeriver): Promise<Head> {
  const core = new NativeDecryptor(passphrase);
  const raw: Buffer[] = [];
  const early: Buffer[] = [];
  let rawSize = 0;
  return new Promise<Head>((resolve, reject) => {
    let settled = false;
    const cleanup = () => {
      settled = true;
      input.off("data", onData);
      input.off("end", onEnd);
      input.off("error", onError);
      input.off("close", onClose);
      input.pause();
    };
    const fallback = (reason: string, ended: boolean) => {
      cleanup();
      resolve({ kind: "fallback", reason, replay: replay(raw, ended ? null : input), armored: core.armored, passphraseChecked: core.sessionOpened });
    };
    const onClose = () => {
      if (!input.readableEnded) fail(input.errored ?? prematureClose());
    };
    const native = (ended: boolean) => {
      cleanup();
      resolve({ kind: "native", stream: nativeStream(input, core, early, ended) });
    };
    const fail = (err: unknown) => {
      cleanup();
      input.destroy();
      reject(err);
    };
    /** Settles when the message's content is known (or the input ended); returns whether it did. */
    const decide = (ended: boolean): boolean => {
      const content = core.content;
      if (content === "literal") native(ended);
      else if (typeof content === "number") {
        const first = peekCompressed(content, Buffer.concat(early));
        if (first !== null) {
          if (isLiteralTag(first)) native(ended);
          else fallback("the compressed data holds more than literal data (a signed message?)", ended);
        } else if (ended || rawSize >= PROBE_LIMIT) native(ended);
        else return false;
      } else if (ended) native(ended);
      else return false;
      return true;
    };
    /** Hands bytes to the native reader and decides when it can. */
    const feed = (b: Buffer) => {
      try {
        core.write(b);
        early.push(...core.take());
        decide(false);
      } catch (err) {
        if (err instanceof UnsupportedMessage) fallback(err.message, false);
        else fail(err);
      }
    };
    const finish = () => {
      try {
        // A short message: finish it here, so that its errors reject before any output.
        core.end();
        early.push(...core.take());
        decide(true);
      } catch (err) {
        if (err instanceof UnsupportedMessage) fallback(err.message, true);
        else fail(err);
      }
    };
    // The passphrase packets' keys are derived first, in slices (prepareMessageKeys), not by the
    // reader in one synchronous 16-64 MiB hash: the bytes wait in `raw` meanwhile.
    let keys: "wait" | "preparing" | "ready" = "wait";
    let endedMeanwhile = false;
    /** The bytes held so far go to the reader; false when that settled the head already. */
    const feedHeld = (): boolean => {
      keys = "ready";
      feed(Buffer.concat(raw));
      return !settled;
    };
    const prepare = () => {
      keys = "preparing";
      input.pause();
      void prepareMessageKeys(Buffer.concat(raw), passphrase, derive).then(
        (done) => {
          if (settled) return;
          if (!done && !endedMeanwhile) {
            keys = "wait"; // the passphrase packets are not whole yet: more bytes first
            input.resume();
          } else if (feedHeld()) {
            if (endedMeanwhile) finish();
            else input.resume();
          }
        },
        (err) => fail(err),
      );
    };
    const onData = (chunk: Buffer) => {
      const b = asBuffer(chunk);
      raw.push(b);
      rawSize += b.length;
      if (keys === "ready") feed(b);
      else if (keys === "wait") prepare();
    };
    const onEnd = () => {
      if (keys === "preparing") endedMeanwhile = true;
      // Ended before its passphrase packets were whole (empty, or cut short): the reader says why.
      else if (keys === "ready" || feedHeld()) finish();
    };
    const onError = (err: Error) => fail(err);
    input.on("data", onData);
    input.once("end", onEnd);
    input.once("error", onError);
    input.once("close", onClose);
  });
}

/** The input closed without an error and without its end: a download cut off, or a stage destroyed. */
function prematureClose(): Error {
  return new Error("The archive's download stopped before its end.");
}

/**
 * Errors of `input` reach `out`, and so does an input that closes before its end. `out` keeps a
 * listener of its own: an error that comes before its reader is attached is kept in `out.errored`
 * (see decryptStream), never thrown as an unhandled 'error' event.
 */
function forwardFailures(input: Readable, out: Readable, fail: (err: Error) => void = (err) => out.destroy(err)): void {
  out.on("error", () => {});
  input.on("error", fail);
  input.on("close", () => {
    if (!input.readableEnded) fail(input.errored ?? prematureClose());
  });
}

/** The bytes read so far, then the rest of `rest` (paused until the openpgp.js reader pulls). */
function replay(chunks: Buffer[], rest: Readable | null): Readable {
  const out = new PassThrough();
  for (const c of chunks) out.write(c);
  if (!rest) out.end();
  else {
    // Listening now, not when openpgp.js starts reading: a download that fails while openpgp.js is
    // loaded must not be an unhandled 'error' event.
    forwardFailures(rest, out);
    rest.pipe(out);
  }
  return out;
}

function asCorrupt(err: unknown): Error {
  if (err instanceof CorruptArchiveError) return err;
  return new CorruptArchiveError(`The archive is truncated or was altered: ${(err as Error)?.message ?? String(err)}.`, { cause: err });
}

/**
 * Work a syncTransform does before it lets the event loop turn. A fast download delivers many chunks
 * in one turn of the loop, and decrypting them one after the other held the agent's main thread (and
 * its /livez) 50-90 ms at a time in a restore drill of a 60 MB database.
 */
const TURN_BUDGET_MS = 8;

/** A Transform around a synchronous reader, its errors as CorruptArchiveError; it yields the event loop every TURN_BUDGET_MS. */
function syncTransform(reader: { write(b: Buffer): void; end(): void; take(): Buffer[] }): Transform {
  let since = performance.now();
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      try {
        reader.write(chunk);
        for (const b of reader.take()) this.push(b);
      } catch (err) {
        cb(asCorrupt(err));
        return;
      }
      if (performance.now() - since < TURN_BUDGET_MS) cb();
      else
        setImmediate(() => {
          since = performance.now();
          cb();
        });
    },
    flush(cb) {
      try {
        reader.end();
        for (const b of reader.take()) this.push(b);
        cb();
      } catch (err) {
        cb(asCorrupt(err));
      }
    },
  });
}

/**
 * The native reader as a stream: decrypt (+ MDC) → inflate when compressed → literal data. The
 * output ends only after the MDC matched (the decryptor's flush) and every stage ended cleanly; any
 * stage's failure errors the output.
 */
function nativeStream(input: Readable, core: NativeDecryptor, early: Buffer[], ended: boolean): Readable {
  const decrypt = syncTransform(core);
  for (const b of early) decrypt.push(b);
  const stages: Duplex[] = [decrypt];
  const content = core.content;
  if (typeof content === "number") {
    if (content === 1) stages.push(zlib.createInflateRaw({ chunkSize: 1 << 18 }));
    if (content === 2) stages.push(zlib.createInflate({ chunkSize: 1 << 18 }));
    stages.push(syncTransform(new LiteralReader()));
  }
  const last = stages[stages.length - 1];
  let failed = false;
  /** The first failure ends every stage; the output carries it (a stage's as CorruptArchiveError, the input's as it is). */
  const fail = (err: Error) => {
    if (failed) return;
    failed = true;
    for (const t of stages) if (t !== last) t.destroy();
    last.destroy(err);
  };
  for (let i = 0; i + 1 < stages.length; i++) stages[i].pipe(stages[i + 1]);
  for (const s of stages) if (s !== last) s.on("error", (err) => fail(asCorrupt(err)));
  last.on("close", () => {
    for (const s of stages) s.destroy();
    if (!input.readableEnded) input.destroy();
  });
  if (ended) {
    last.on("error", () => {});
    decrypt.end();
  } else {
    forwardFailures(input, last, fail);
    input.pipe(decrypt);
  }
  return last;
}

/**
 * openpgp.js's failure to decrypt a message whose passphrase nothing checked first (a cipher the
 * native reader leaves to it, like gpg 1.x's default CAST5): its MDC fails, or what it decrypted does
 * not parse. A wrong passphrase does that as surely as an alteration, and openpgp.js makes no quick
 * check that would tell them apart.
 */
function unchecked(err: unknown): CorruptArchiveError {
  return new UnreadableArchiveError(
    `It does not decrypt (${(err as Error)?.message ?? String(err)}), and for its cipher nothing tells why: either the passphrase is wrong (LIFEBOAT_PASSPHRASE_FILE), or the archive was altered.`,
    { cause: err },
  );
}

/**
 * The openpgp.js path, for every message the native reader does not handle (ASCII-armored when
 * `armored`). `passphraseChecked`: the native reader found the passphrase opens it (a BZip2 or signed
 * message inside), so a failure here is damage, never a wrong passphrase.
 */
async function decryptWithOpenpgp(input: Readable, passphrase: string, armored = false, passphraseChecked = false): Promise<Readable> {
  const openpgp = await loadOpenpgp();
  const bytes = Readable.toWeb(input) as unknown as ReadableStream<Uint8Array>;
  // Watched from here: toWeb listens to `input` already, so the watch's listener takes nothing from it.
  const watch = watchOpenpgp(input, () => (passphraseChecked ? new CorruptArchiveError(`The archive ${STUCK}.`) : unchecked(new Error(STUCK))));
  try {
    return await decryptWatched(openpgp, bytes, passphrase, armored, passphraseChecked, watch);
  } catch (err) {
    watch.stop();
    throw err;
  }
}

/**
 * How long openpgp.js may go without reading or producing a byte while its input has bytes for it
 * (or has ended) and its reader is not holding it back. On some noise a wrong key decrypts (one
 * wrong passphrase in ~30 for a CAST5 message) openpgp.js waits forever: the drill hung, holding the
 * datastore lock. Counted in turns of a timer, so a long synchronous step (an S2K) is one turn.
 */
const OPENPGP_STALL_MS = 10_000;
const WATCH_TICK_MS = 500;
const STUCK = "stopped decrypting before its end: openpgp.js neither read more of it nor gave data or an error";

interface OpenpgpWatch {
  /** Rejects once openpgp.js is stuck (never resolves otherwise). */
  stuck: Promise<never>;
  /** The error it rejected with, once it did. */
  fired(): Error | null;
  /** openpgp.js produced output. */
  progress(): void;
  /** Its output (errored when stuck from then on). */
  attach(out: Readable): void;
  stop(): void;
}

function watchOpenpgp(input: Readable, error: () => Error): OpenpgpWatch {
  let ended = false;
  let moved = false;
  let idleTicks = 0;
  let out: Readable | null = null;
  let fired: Error | null = null;
  let reject: (err: Error) => void = () => {};
  const stuck = new Promise<never>((_, r) => (reject = r));
  stuck.catch(() => {});
  input.on("data", () => (moved = true));
  input.once("end", () => (ended = true));
  const timer = setInterval(() => {
    // Waiting for the download (nothing buffered for it), or for its own reader: not stuck.
    const waiting = !ended && input.readableLength === 0;
    const heldBack = !!out && (out as PassThrough).writableNeedDrain;
    idleTicks = moved || waiting || heldBack ? 0 : idleTicks + 1;
    moved = false;
    if (idleTicks * WATCH_TICK_MS < OPENPGP_STALL_MS) return;
    clearInterval(timer);
    fired = error();
    reject(fired);
    out?.destroy(fired);
  }, WATCH_TICK_MS);
  timer.unref();
  return {
    stuck,
    fired: () => fired,
    progress: () => (moved = true),
    attach(o) {
      out = o;
      o.once("close", () => clearInterval(timer));
    },
    stop: () => clearInterval(timer),
  };
}

async function decryptWatched(
  openpgp: Awaited<ReturnType<typeof loadOpenpgp>>,
  bytes: ReadableStream<Uint8Array>,
  passphrase: string,
  armored: boolean,
  passphraseChecked: boolean,
  watch: OpenpgpWatch,
): Promise<Readable> {
  let message;
  try {
    message = armored
      ? await openpgp.readMessage({ armoredMessage: bytes.pipeThrough(new TextDecoderStream() as unknown as TransformStream<Uint8Array, string>) })
      : await openpgp.readMessage({ binaryMessage: bytes });
  } catch (err) {
    throw new CorruptArchiveError(`This is not an OpenPGP-encrypted archive (or its header is damaged): ${(err as Error).message}`, { cause: err });
  }
  let result;
  try {
    result = await Promise.race([
      openpgp.decrypt({
        message,
        passwords: [passphrase],
        format: "binary",
        // Stream out without buffering the whole message; the MDC/AEAD check still runs at the end.
        config: { allowUnauthenticatedStream: true },
      }),
      watch.stuck,
    ]);
  } catch (err) {
    if (err === watch.fired()) throw err;
    const msg = (err as Error).message ?? "";
    // openpgp.js prefixes what it finds while decrypting with "Error decrypting message:", a message
    // cut short too: only the native reader's check tells a wrong passphrase from damage then, and an
    // end of packet never means a wrong passphrase.
    if (!passphraseChecked && !/unexpected end/i.test(msg)) {
      if (/session key|passphrase|password/i.test(msg)) throw new WrongPassphraseError();
      // What a wrong key decrypts is noise: it fails the MDC or does not parse, as an alteration does.
      if (/decrypt/i.test(msg)) throw unchecked(err);
    }
    throw new CorruptArchiveError(`The archive cannot be decrypted: ${msg}`, { cause: err });
  }
  const data = Readable.fromWeb(result.data as unknown as WebReadableStream<Uint8Array>);
  // Translate openpgp's mid-stream failures (MDC mismatch, truncation) into one error type.
  const out = new PassThrough();
  out.on("error", () => {}); // kept in out.errored until the reader looks (see decryptStream)
  data.on("error", (err) =>
    out.destroy(
      !passphraseChecked && !/unexpected end/i.test(err.message)
        ? unchecked(err)
        : new CorruptArchiveError(`The archive is truncated or was altered: ${err.message}`, { cause: err }),
    ),
  );
  out.on("close", () => data.destroy());
  data.on("data", () => watch.progress());
  watch.attach(out);
  data.pipe(out);
  return out;
}
