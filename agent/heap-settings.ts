import v8 from "node:v8";

/**
 * V8 settings the agent gives itself at run time, imported first by the entry point (cli-entry.ts),
 * before the modules whose loading they concern. V8 reads the heap's maximum sizes once, when the
 * isolate starts (so `--max-semi-space-size` set from here does nothing: docs/benchmarks.md), but
 * the flags below each time it decides: they take effect when set here. Worker threads started after
 * this share them. An operator's own settings of the same things (NODE_OPTIONS or node's arguments)
 * are left alone.
 *
 * 1. Every process: the young generation stays at its first size (1 MB a half), as the systemd
 *    unit's `--max-semi-space-size=1` does for `serve`, so that a backup run from a shell, a timer
 *    or a CronJob under Node's defaults gets it too. Left to grow (Node's default lets each half
 *    reach 16 MB), it holds mostly dead stream buffers between collections, and the memory pacer
 *    (backup/memory-pacer.ts) collects it every MiB anyway. `--semi-space-growth-factor=1`: V8 reads
 *    it each time it would grow the young generation.
 * 2. `backup` only: no optimizing compiler (TurboFan) and no baseline compiler (Sparkplug), and V8's
 *    heap sized for memory rather than speed (`--optimize-for-size`: a smaller growing factor, more
 *    eager compaction). A backup's time is zstd, OpenPGP's cipher and hash, SQLite and sockets, all
 *    native: its JavaScript is glue that runs a few thousand times, so compiled code buys it nothing
 *    measurable, while TurboFan's compile jobs and their zones on V8's helper threads, and the code
 *    they leave, were ~10 MB of the backup's peak (docs/benchmarks.md, 2026-12-07). Not for `serve`
 *    and the restores, whose point restore and compaction parse the log's SQL text in JavaScript.
 *    And `--bytecode-old-age=1`: a function's bytecode is dropped at the first full collection it was
 *    not run since (V8's default waits several), so the start's run-once code — module bodies, the
 *    configuration's and the contracts' schema building — does not stay through the upload; a
 *    function run again is compiled again, which for glue is nothing (~1 MB of the peak, the same
 *    wall time: docs/benchmarks.md, 2026-12-07 evening).
 */

/** The flags this process sets for itself, given its arguments (`process.argv`) and what the operator gave node. */
export function runtimeFlags(argv: readonly string[], given: string): string[] {
  const flags: string[] = [];
  if (!/--(max-semi-space-size|min-semi-space-size|semi-space-growth-factor)\b/.test(given)) flags.push("--semi-space-growth-factor=1");
  // argv: [node, the entry point, command, ...]; the CLI takes its command first (cli.ts).
  if (argv[2] === "backup") {
    if (!/--(no-)?(opt|turbofan|sparkplug|jitless|lite-mode)\b/.test(given)) flags.push("--no-opt", "--no-sparkplug");
    if (!/--(no-)?optimize-for-size\b/.test(given)) flags.push("--optimize-for-size");
    if (!/--(bytecode-old-age|(no-)?flush-bytecode)\b/.test(given)) flags.push("--bytecode-old-age=1");
  }
  return flags;
}

for (const flag of runtimeFlags(process.argv, `${process.execArgv.join(" ")} ${process.env.NODE_OPTIONS ?? ""}`)) {
  try {
    v8.setFlagsFromString(flag);
  } catch {
    // Not settable here: V8 keeps its default.
  }
}
