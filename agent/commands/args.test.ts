import { describe, it, expect } from "vitest";
import { parseArgs, type ArgSpec } from "./args";

/** The one argument reader every command but recover uses (args.ts): what it takes, and the sentence for what it refuses. */

const restoreLike: ArgSpec = {
  flags: ["--dry-run", "--yes", "--list"],
  values: ["--to-time", "--status"],
  positionals: 1,
  alone: ["--list", "--status"],
};
const read = (args: string[], spec: ArgSpec = restoreLike) => {
  const r = parseArgs(args, spec);
  return typeof r === "string" ? r : { positionals: r.positionals, dryRun: r.has("--dry-run"), yes: r.has("--yes"), time: r.value("--to-time") };
};

describe("parseArgs", () => {
  it("reads flags, a valued option as `--opt value` or `--opt=value`, and positionals", () => {
    expect(read(["latest", "--to-time", "2026-12-03T14:32:10Z", "--dry-run"])).toEqual({
      positionals: ["latest"],
      dryRun: true,
      yes: false,
      time: "2026-12-03T14:32:10Z",
    });
    expect(read(["--to-time=2026-12-03T14:32:10Z", "latest"])).toMatchObject({ positionals: ["latest"], time: "2026-12-03T14:32:10Z" });
    expect(read(["latest", "--to-time", ""])).toMatchObject({ time: "" });
    expect(read(["-"])).toMatchObject({ positionals: ["-"] });
  });

  it.each([
    [["latest", "--dryrun"], "Unknown option --dryrun."],
    [["latest", "-n"], "Unknown option -n."],
    [["latest", "--"], "Unknown option --."],
    [["a", "b"], 'Unexpected argument "b" (at most 1).'],
    [["latest", "--to-time"], "--to-time needs a value."],
    [["latest", "--to-time", "--dry-run"], "--to-time needs a value."],
    [["latest", "--to-time=a", "--to-time=b"], "--to-time is given twice."],
    [["latest", "--yes=no"], "--yes takes no value."],
    [["--list", "--yes"], "--list stands alone: give it without other options or arguments."],
    [["--status", "id", "latest"], "--status stands alone: give it without other options or arguments."],
  ])("refuses %j: %s", (args, sentence) => {
    expect(read(args)).toBe(sentence);
  });

  it("a command that takes nothing refuses anything", () => {
    expect(read([], {})).toEqual({ positionals: [], dryRun: false, yes: false, time: undefined });
    expect(read(["--json"], {})).toBe("Unknown option --json.");
    expect(read(["now"], {})).toBe('Unexpected argument "now".');
  });
});
