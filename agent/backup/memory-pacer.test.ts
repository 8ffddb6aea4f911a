import { expect, it, vi } from "vitest";

it("runs a young-generation GC for every MiB the backup reads (dead stream buffers freed as they die)", async () => {
  const gc = vi.fn();
  (globalThis as { gc?: unknown }).gc = gc; // the pacer takes an exposed gc when there is one
  const { memoryPacer } = await import("./memory-pacer");
  const pace = memoryPacer();
  const MiB = 1 << 20;
  for (const bytes of [0.5 * MiB, MiB - 1, MiB, 1.5 * MiB, 2 * MiB, 2.2 * MiB, 5 * MiB]) pace(bytes);
  // At 1 MiB, then 1 MiB after that (2 MiB), then at 5 MiB (a large read jumps ahead, once).
  expect(gc.mock.calls).toEqual([[{ type: "minor" }], [{ type: "minor" }], [{ type: "minor" }]]);
  delete (globalThis as { gc?: unknown }).gc;
});
