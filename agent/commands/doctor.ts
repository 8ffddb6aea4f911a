import type { Command, CommandIo } from "./command";
import { readArgs } from "./args";
import type { DoctorReport } from "../doctor/doctor";

// Loaded when the command runs: the doctor reaches the store's SDK and the archive pipeline
// (passphrase check), which `serve` would otherwise load at start, since every command is imported.
const doctor = () => import("../doctor/doctor");

const MARK = { ok: "✓", warning: "!", problem: "✗" } as const;

/** Prints a report as text (each problem with its fix) or JSON; returns the exit code (1 when there are problems). */
function print(r: DoctorReport, json: boolean, io: CommandIo): number {
  if (json) io.out(JSON.stringify(r, null, 2));
  else {
    for (const c of r.checks) {
      io.out(`${MARK[c.level]} ${c.id.padEnd(16)} ${c.message}`);
      if (c.fix && c.level !== "ok") io.out(`  ${"".padEnd(16)} fix: ${c.fix}`);
    }
    io.out("");
    io.out(
      r.ok
        ? `No problems${r.warnings ? ` (${r.warnings} warning${r.warnings === 1 ? "" : "s"})` : ""}: this server is ready for backups and restores.`
        : `${r.problems} problem${r.problems === 1 ? "" : "s"}${r.warnings ? `, ${r.warnings} warning${r.warnings === 1 ? "" : "s"}` : ""}: fix them as shown above, then run lifeboat-agent doctor again.`,
    );
  }
  return r.ok ? 0 : 1;
}

/** `lifeboat-agent doctor`: checks this host for what backups and restores need, each problem with its fix (agent/doctor). */
export const doctorCommand: Command = {
  name: "doctor",
  summary: "Check this server: k3s paths and owner, tools, Node, disk, the store, the passphrase, the schedule — each problem with its fix.",
  usage: "lifeboat-agent doctor [--json]   (exit 1 when there are problems)",
  options: { flags: ["--json"] },
  async run(args, deps, io) {
    const a = readArgs(doctorCommand, args, io);
    if (!a) return 2;
    return print(await (await doctor()).runDoctor(deps), a.has("--json"), io);
  },
  async runUnconfigured(args, message, io) {
    const a = readArgs(doctorCommand, args, io);
    if (!a) return 2;
    return print((await doctor()).configProblemReport(message), a.has("--json"), io);
  },
};
