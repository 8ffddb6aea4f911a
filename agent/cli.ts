import readline from "node:readline/promises";
import { commands } from "./commands/index";
import { readArgs } from "./commands/args";
import type { CommandIo } from "./commands/command";
import { AgentConfigError, loadAgentConfig } from "./config";
import { makeDeps } from "./deps";
import { AGENT_VERSION } from "./version";

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

const io: CommandIo = {
  out: (t) => process.stdout.write(t.endsWith("\n") ? t : t + "\n"),
  err: (t) => process.stderr.write(t.endsWith("\n") ? t : t + "\n"),
  async confirm(question) {
    if (!process.stdin.isTTY) return false;
    const rl = readline.createInterface({ input: process.stdin, output: process.stderr });
    try {
      const a = await rl.question(`${question} [y/N] `);
      return /^y(es)?$/i.test(a.trim());
    } finally {
      rl.close();
    }
  },
};

function usage(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    `lifeboat-agent ${AGENT_VERSION}: backups, health checks and restores for a k3s server's SQLite datastore.`,
    "",
    "Usage: lifeboat-agent <command> [options]",
    "",
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    "",
    'Configuration comes from environment variables (see README.md, "Agent configuration").',
  ].join("\n");
}

/** Runs one CLI invocation and returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (!name) {
    // No command: a usage error, so the usage goes where errors go (a script's stdout stays clean).
    io.err(usage());
    return 2;
  }
  if (name === "help" || name === "--help" || name === "-h") {
    // `help restore`: that command's help, as `restore --help` gives it.
    const about = args.length === 1 ? commands.find((c) => c.name === args[0]) : undefined;
    if (about) {
      io.out(`${about.summary}\n\nUsage: ${about.usage}`);
      return 0;
    }
    if (args.length > 0) {
      io.err(`"${name}" takes at most one argument, a command's name.\n\n${usage()}`);
      return 2;
    }
    io.out(usage());
    return 0;
  }
  if (name === "--version" || name === "version") {
    if (args.length === 1 && (args[0] === "--help" || args[0] === "-h")) {
      io.out("Prints the agent's version.\n\nUsage: lifeboat-agent version");
      return 0;
    }
    if (args.length > 0) {
      io.err(`"${name}" takes no arguments.\n\nUsage: lifeboat-agent version`);
      return 2;
    }
    io.out(AGENT_VERSION);
    return 0;
  }
  const cmd = commands.find((c) => c.name === name);
  if (!cmd) {
    io.err(`Unknown command "${name}".\n\n${usage()}`);
    return 2;
  }
  if (args.includes("--help") || args.includes("-h")) {
    io.out(`${cmd.summary}\n\nUsage: ${cmd.usage}`);
    return 0;
  }
  // A usage error before anything else, the configuration included: nothing runs on arguments the command does not take.
  if (cmd.options && !readArgs(cmd, args, io)) return 2;
  try {
    let config;
    try {
      config = loadAgentConfig();
    } catch (err) {
      if (err instanceof AgentConfigError && cmd.runUnconfigured) return await cmd.runUnconfigured(args, err.message, io);
      throw err;
    }
    return await cmd.run(args, makeDeps(config), io);
  } catch (err) {
    if (err instanceof AgentConfigError) {
      io.err(`error: ${err.message}`);
      return 2;
    }
    io.err(`error: ${(err as Error)?.message ?? String(err)}`);
    return 1;
  }
}

const isMain = process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isMain || process.env.LIFEBOAT_AGENT_CLI === "1") {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err) => {
      process.stderr.write(`error: ${String(err)}\n`);
      process.exit(1);
    },
  );
}
