import type { Command } from "./command";
import { readArgs } from "./args";

export const statsCommand: Command = {
  name: "stats",
  summary: "Print live database statistics as JSON (computed on a quick snapshot, never on the live file).",
  usage: "lifeboat-agent stats\n\nPrints the same shape as GET /stats: sizes, revisions, compaction lag, top key prefixes.",
  options: {},
  async run(args, deps, io) {
    if (!readArgs(statsCommand, args, io)) return 2;
    const { takeLiveStats } = await import("../backup/live-stats");
    io.out(JSON.stringify(await takeLiveStats(deps), null, 2));
    return 0;
  },
};
