import type { Command } from "./command";
import { followJob } from "./restore";

export const rollbackCommand: Command = {
  name: "rollback",
  summary: "Put back the database a restore moved aside (the newest restore that can be rolled back, or <id>).",
  usage:
    "lifeboat-agent rollback [<restore id>]\n\n" +
    "Stops k3s, renames the restored db/ to db.rolled-back-<ts> (kept), moves db.before-restore-<ts> back\n" +
    "(and the token, cred/, tls/ the restore replaced), fixes owner and mode, starts k3s. Prints the\n" +
    "restore's record as JSON on stdout, progress on stderr.",
  async run(args, deps, io) {
    const runner = await import("../restore/runner");
    for (const r of await runner.resumeInterrupted(deps)) io.err(`Restore ${r.id}, interrupted earlier: ${r.status}. ${r.targetState}`);
    let id = args.find((a) => !a.startsWith("-"));
    if (!id) {
      id = (await runner.listRestores(deps)).find((r) => r.canRollback)?.id;
      if (!id) {
        io.err("There is no restore to roll back (see `lifeboat-agent restore --list`).");
        return 1;
      }
    }
    const { jobId, done } = runner.startRollback(deps, id);
    io.err(`Rolling back restore ${id}…`);
    await followJob(deps, io, jobId, done);
    const rec = runner.getRestore(deps, id);
    io.err(rec.error ? `error: ${rec.error}` : rec.targetState);
    io.out(JSON.stringify(rec, null, 2));
    return rec.status === "rolled-back" ? 0 : 1;
  },
};
