import v8 from "node:v8";

/**
 * Keeps V8's young generation at its first size (1 MB a half) in every agent process, as the
 * systemd unit's `--max-semi-space-size=1` does for `serve`, so that a backup run from a shell, a
 * timer or a CronJob under Node's defaults gets it too. Left to grow (Node's default lets each half
 * reach 16 MB), the young generation holds mostly dead stream buffers between collections, and the
 * memory pacer (backup/memory-pacer.ts) collects it every MiB anyway.
 *
 * How: `--semi-space-growth-factor=1`, set at run time. V8 reads the heap's maximum sizes once, when
 * the isolate starts (so `--max-semi-space-size` set from here does nothing: docs/benchmarks.md), but
 * reads the growth factor each time it would grow the young generation. Worker threads started after
 * this share the flag. An operator's own young-generation settings (NODE_OPTIONS or node's
 * arguments) are left alone. Imported first by the entry point (cli-entry.ts), before the modules whose
 * loading would grow it.
 */
const given = `${process.execArgv.join(" ")} ${process.env.NODE_OPTIONS ?? ""}`;
if (!/--(max-semi-space-size|min-semi-space-size|semi-space-growth-factor)\b/.test(given)) {
  try {
    v8.setFlagsFromString("--semi-space-growth-factor=1");
  } catch {
    // Not settable here: the young generation grows as Node's defaults let it.
  }
}
