import type { Command, CommandIo } from "./command";

/**
 * What a command takes on its command line. Anything else is a usage error (exit 2): an option the
 * command does not know (`retention --dryrun`) or one positional too many must never be skipped over,
 * so that the command runs as if it had not been given (a real retention, a real rollback).
 */
export interface ArgSpec {
  /** Options without a value, e.g. "--json". */
  flags?: readonly string[];
  /** Options with one value, written `--opt value` or `--opt=value`. */
  values?: readonly string[];
  /** How many positionals the command takes at most (none when absent). */
  positionals?: number;
  /** Options that stand alone, each a mode of its own (`restore --list`, `restore --status <id>`): nothing else may come with one. */
  alone?: readonly string[];
}

/** The command line as the spec reads it. */
export interface ParsedArgs {
  /** Whether the flag or valued option was given. */
  has(option: string): boolean;
  /** A valued option's value (undefined when it was not given). */
  value(option: string): string | undefined;
  positionals: string[];
}

/** The command line read by `spec`, or a sentence saying what is wrong with it. */
export function parseArgs(args: readonly string[], spec: ArgSpec): ParsedArgs | string {
  const flags = new Set<string>();
  const values = new Map<string, string>();
  const positionals: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (!a.startsWith("-") || a === "-") {
      positionals.push(a);
      continue;
    }
    const eq = a.indexOf("=");
    const name = eq > 0 ? a.slice(0, eq) : a;
    if (spec.values?.includes(name)) {
      let v: string | undefined;
      if (eq > 0) v = a.slice(eq + 1);
      else if (i + 1 < args.length && !args[i + 1].startsWith("--")) v = args[++i];
      if (v === undefined) return `${name} needs a value.`;
      if (values.has(name)) return `${name} is given twice.`;
      values.set(name, v);
    } else if (eq < 0 && spec.flags?.includes(a)) flags.add(a);
    else if (eq > 0 && spec.flags?.includes(name)) return `${name} takes no value.`;
    else return `Unknown option ${a}.`;
  }
  const max = spec.positionals ?? 0;
  if (positionals.length > max) return max === 0 ? `Unexpected argument "${positionals[0]}".` : `Unexpected argument "${positionals[max]}" (at most ${max}).`;
  const given = [...flags, ...values.keys()];
  const alone = given.find((o) => spec.alone?.includes(o));
  if (alone && (given.length > 1 || positionals.length)) return `${alone} stands alone: give it without other options or arguments.`;
  return { has: (o) => flags.has(o) || values.has(o), value: (o) => values.get(o), positionals };
}

/** The usage's synopsis: its lines up to the first blank one. */
function synopsis(cmd: Pick<Command, "usage">): string {
  return cmd.usage.split("\n\n")[0].replace(/\n/g, "\n       ");
}

/** Prints a usage error (the sentence, then the command's synopsis) on stderr and returns its exit code, 2. */
export function usageError(cmd: Pick<Command, "name" | "usage">, io: Pick<CommandIo, "err">, message: string): 2 {
  io.err(`${message}\nUsage: ${synopsis(cmd)}\n(lifeboat-agent ${cmd.name} --help says more.)`);
  return 2;
}

/**
 * The command's arguments read by its `options`; on a usage error, prints it (usageError) and returns
 * null, and the command returns 2 without doing anything. Every command reads its arguments here.
 */
export function readArgs(cmd: Command, args: readonly string[], io: Pick<CommandIo, "err">): ParsedArgs | null {
  const parsed = parseArgs(args, cmd.options ?? {});
  if (typeof parsed === "string") {
    usageError(cmd, io, parsed);
    return null;
  }
  return parsed;
}
