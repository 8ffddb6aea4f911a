import path from "node:path";
import type { Command } from "./command";
import { readArgs } from "./args";
import { followJob } from "./restore";

export const rollbackCommand: Command = {
  name: "rollback",
  summary: "Put back the database a restore moved aside (the newest restore that can be rolled back, or <id>).",
  usage:
    "lifeboat-agent rollback [<restore id>] [--yes]\n\n" +
    "Stops k3s, renames the restored db/ to db.rolled-back-<ts> (kept), moves db.before-restore-<ts> back\n" +
    "(and the token, cred/, tls/ the restore replaced), fixes owner and mode, starts k3s. Asks first on a\n" +
    "terminal; --yes rolls back without asking (needed without a terminal). Prints the restore's record\n" +
    "as JSON on stdout, progress on stderr.",
  options: { flags: ["--yes"], positionals: 1 },
  async run(args, deps, io) {
    const a = readArgs(rollbackCommand, args, io);
    if (!a) return 2;
    const runner = await import("../restore/runner");
    for (const r of await runner.resumeInterrupted(deps)) io.err(`Restore ${r.id}, interrupted earlier: ${r.status}. ${r.targetState}`);
    const named = a.positionals[0];
    const rec = named ? runner.getRestore(deps, named) : (await runner.listRestores(deps)).find((r) => r.canRollback);
    if (!rec) {
      io.err("There is no restore to roll back (see `lifeboat-agent restore --list`).");
      return 1;
    }
    const id = rec.id;
    // A rollback already under way (another process holds it, or it was interrupted) is left to startRollback.
    const resuming = rec.status === "rolling-back";
    if (!rec.canRollback && !resuming) {
      io.err(
        rec.done
          ? `error: Restore ${id} was marked done; its previous database is still in ${rec.asideDir} if you need it.`
          : `error: Restore ${id} has nothing to roll back (it is ${rec.status}, ${rec.phase}).`,
      );
      return 1;
    }
    if (!resuming && !a.has("--yes")) {
      const cfg = deps.config;
      io.err(`${named ? "Restore" : "The newest restore that can be rolled back:"} ${id}, from ${rec.sourceDescription} (${rec.updatedAt}).`);
      io.err(rec.targetState);
      const aside = rec.asideDir ? path.basename(rec.asideDir) : "db.before-restore-<ts>";
      const yes = await io.confirm(
        `Roll it back: stop k3s (\`${cfg.k3sStopCmd}\`), move the restored db/ aside to db.rolled-back-<ts> (kept), put ${aside} back as db/` +
          ` (and the token, cred/, tls/ the restore replaced), then start k3s (\`${cfg.k3sStartCmd}\`)?`,
      );
      if (!yes) {
        io.err(`Nothing was rolled back: the restored database is still in place. Without a terminal, add --yes: lifeboat-agent rollback ${id} --yes`);
        return 2;
      }
    }
    const { jobId, done } = runner.startRollback(deps, id);
    io.err(`Rolling back restore ${id}…`);
    await followJob(deps, io, jobId, done);
    const after = runner.getRestore(deps, id);
    io.err(after.error ? `error: ${after.error}` : after.targetState);
    io.out(JSON.stringify(after, null, 2));
    return after.status === "rolled-back" ? 0 : 1;
  },
};
