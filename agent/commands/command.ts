import type { AgentDeps } from "../module";
import type { ArgSpec } from "./args";

/** Where a command writes: results on stdout (JSON or text), progress and errors on stderr. */
export interface CommandIo {
  out(text: string): void;
  err(text: string): void;
  /** Asks a yes/no question on the terminal; false when stdin is not a TTY. */
  confirm(question: string): Promise<boolean>;
}

export interface Command {
  name: string;
  summary: string;
  usage: string;
  /**
   * The options and positionals the command takes (args.ts): the CLI refuses anything else with a
   * usage error (exit 2) before loading the configuration, and the command reads its arguments with
   * readArgs. Absent only for a command that reads its own (recover).
   */
  options?: ArgSpec;
  /** Returns the process exit code (0 ok, 1 failed, 2 usage or configuration error). */
  run(args: string[], deps: AgentDeps, io: CommandIo): Promise<number>;
  /** For a command that must answer even when the configuration does not load (doctor): `message` says what is wrong. */
  runUnconfigured?(args: string[], message: string, io: CommandIo): Promise<number>;
}
