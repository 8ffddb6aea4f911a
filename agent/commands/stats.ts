import type { Command } from "./command";

export const statsCommand: Command = {
  name: "stats",
  summary: "Print live database statistics as JSON (computed on a quick snapshot, never on the live file).",
  usage: "lifeboat-agent stats\n\nPrints the same shape as GET /stats: sizes, revisions, compaction lag, top key prefixes.",
  async run(_args, deps, io) {
    const { takeLiveStats } = await import("../backup/live-stats");
    io.out(JSON.stringify(await takeLiveStats(deps), null, 2));
    return 0;
  },
};
