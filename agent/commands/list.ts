import type { Command } from "./command";
import { readArgs } from "./args";
import { KIND_LABELS } from "../../lib/contracts/backup-names";

const mb = (n: number) => `${(n / 1e6).toFixed(2)} MB`;

export const listCommand: Command = {
  name: "list",
  summary: "List the backup sets in the store (Lifeboat's and the seed CronJob's), newest first.",
  usage: "lifeboat-agent list [--json]\n\n--json prints the same shape as GET /backups.",
  options: { flags: ["--json"] },
  async run(args, deps, io) {
    const a = readArgs(listCommand, args, io);
    if (!a) return 2;
    const { listStoreSets, toListedSet } = await import("../backup/sets");
    const store = deps.store();
    const listing = await listStoreSets(store);
    const sets = listing.sets.map(toListedSet);
    if (a.has("--json")) {
      io.out(JSON.stringify({ source: store.description, sets, other: listing.other }, null, 2));
      return 0;
    }
    io.out(`${sets.length} sets in ${store.description}${listing.other.length ? ` (+${listing.other.length} other objects)` : ""}`);
    for (const s of sets) {
      const state = s.complete ? "complete" : `INCOMPLETE, missing: ${s.missing.map((k) => KIND_LABELS[k]).join(", ")}`;
      io.out(`${s.timestamp}  ${s.id.padEnd(29)}  ${mb(s.size).padStart(11)}  ${state}`);
    }
    return 0;
  },
};
