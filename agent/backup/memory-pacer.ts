import v8 from "node:v8";
import vm from "node:vm";

/**
 * Keeps the agent's memory flat while it streams hundreds of MB through zstd, OpenPGP and the S3
 * upload. Each stage allocates fresh Buffers; V8 accounts their bytes outside its heap and, left to
 * itself, collects them only after tens of MB have piled up (measured: ~70 MB of dead buffers at the
 * peak of a 200 MB backup). A young-generation collection (~0.05 ms here) every few MB frees them as
 * they die, which is what holds the backup's peak RSS near its live working set.
 */
type GcFn = (opts?: { type?: "minor" | "major" }) => void;
let gc: GcFn | null | undefined;

function gcFunction(): GcFn | null {
  if (gc !== undefined) return gc;
  try {
    const existing = (globalThis as { gc?: GcFn }).gc;
    if (typeof existing === "function") gc = existing;
    else {
      v8.setFlagsFromString("--expose-gc");
      gc = vm.runInNewContext("gc") as GcFn;
    }
  } catch {
    gc = null; // not available: memory is then simply less tightly bounded
  }
  return gc;
}

/**
 * Returns a callback taking a running byte count (of the source, before compression); it runs a GC
 * every `everyBytes`. "minor" (young generation, ~0.05 ms) frees buffers that die young, such as
 * stream chunks; "major" also frees promoted ones but costs milliseconds each (measured: no lower
 * peak for the upload parts, and ~0.5 s per 200 MB backup), so the pipeline uses "minor".
 * Every 1 MiB rather than 4: bench:backup's peak RSS 6-11 MB lower (Node defaults and the systemd
 * unit's settings, same run) for the same wall time; every 0.25-0.5 MiB was slower and no lower
 * (docs/benchmarks.md, "Idle serve and the backup's peak, third round").
 */
export function memoryPacer(everyBytes = 1 << 20, type: "minor" | "major" = "minor"): (bytes: number) => void {
  const fn = gcFunction();
  let next = everyBytes;
  return (bytes) => {
    if (!fn || bytes < next) return;
    next = bytes + everyBytes;
    fn({ type });
  };
}
