import "server-only";
// `npm run users -- <command>`: accounts on the dashboard's host, for a locked-out admin.
//
//   reset-password <name> [--password-file <file>]   a new password (generated and printed, or the
//                                                    file's first line); ends the user's sessions and
//                                                    forgets their failed sign-ins
//   add <name> <role> [--password-file <file>]       a new account (viewer, operator or admin)
//   list                                             the accounts and their roles
//
// It opens lifeboat.db in LIFEBOAT_DATA_DIR (environment, then the working directory's .env files,
// like npm start) directly, so it works while the dashboard runs or is stopped. Run as the user the
// dashboard runs as. A release carries it bundled as dashboard/lifeboat-users.cjs (build-release.ts):
// `node lifeboat-users.cjs <command>`, with the LIFEBOAT_DATA_DIR the dashboard's unit or pod sets.
import { readFileSync } from "node:fs";
import path from "node:path";
import nextEnv from "@next/env";
import { MIN_PASSWORD_LENGTH, Role, ROLES } from "../contracts/auth";
import { audit, openDatabase } from "../db/database";
import { ConfigError, parseEnv } from "../env";
import { dropInitialPasswordFile } from "./bootstrap";
import { generatePassword, hashPasswordSync } from "./passwords";
import { runAs } from "./request-context";
import { findUser, insertUser, listUsers, setPasswordHash } from "./users";

/** How this was started: `npm run users --` in a checkout, the bundle's file name in a release. */
const RUN = process.env.npm_lifecycle_event === "users" ? "npm run users --" : `node ${path.basename(process.argv[1] ?? "lifeboat-users.cjs")}`;
const USAGE = `Usage: ${RUN} reset-password <name> [--password-file <file>]
       ${RUN} add <name> <${ROLES.join("|")}> [--password-file <file>]
       ${RUN} list`;

function fail(message: string, code = 1): never {
  process.stderr.write(message + "\n");
  process.exit(code);
}

/** The password from --password-file, or a generated one (printed). */
function passwordFrom(args: string[]): { password: string; generated: boolean } {
  const i = args.indexOf("--password-file");
  if (i < 0) return { password: generatePassword(), generated: true };
  const file = args[i + 1] ?? fail("--password-file needs a file name.", 2);
  let password: string;
  try {
    password = readFileSync(file, "utf8").split(/\r?\n/)[0];
  } catch (e) {
    fail(`Cannot read ${file} (${(e as NodeJS.ErrnoException).code}).`, 2);
  }
  if (password.length < MIN_PASSWORD_LENGTH) fail(`The password in ${file} is shorter than ${MIN_PASSWORD_LENGTH} characters.`, 2);
  return { password, generated: false };
}

function main(args: string[]): void {
  // npm runs scripts in the checkout's root; a release's command runs where the operator is.
  nextEnv.loadEnvConfig(process.cwd(), false, { info: () => {}, error: () => {} });
  let dataDir: string;
  try {
    dataDir = parseEnv(process.env).dataDir;
  } catch (err) {
    if (err instanceof ConfigError) fail(`${err.message}\nFix the variable above and run this again.`, 2);
    throw err;
  }
  const db = openDatabase(dataDir);
  const [command, name, third] = args;
  const who = { name: `${process.env.USER ?? "someone"} on the command line`, role: null, kind: "system" as const, address: null };
  runAs(who, () => {
    if (command === "list") {
      for (const u of listUsers(db)) process.stdout.write(`${u.name}\t${u.role}\t${u.activeSessions} session(s)\n`);
      return;
    }
    if (command === "reset-password" && name) {
      const user = findUser(db, name) ?? fail(`There is no user called ${name} in ${path.join(dataDir, "lifeboat.db")}. See them with: ${RUN} list`);
      const { password, generated } = passwordFrom(args);
      setPasswordHash(db, user.id, hashPasswordSync(password));
      if (user.name.toLowerCase() === "admin") dropInitialPasswordFile(dataDir);
      db.prepare("DELETE FROM login_failures WHERE key = ?").run(`user:${user.name.toLowerCase()}`);
      audit(db, "user.password", user.name, "ok", { by: "command line" });
      process.stdout.write(
        generated
          ? `New password for ${user.name} (shown once; their sessions have ended):\n\n  ${password}\n\n`
          : `${user.name}'s password is now the one in the file; their sessions have ended.\n`,
      );
      return;
    }
    if (command === "add" && name && third) {
      const role = Role.safeParse(third);
      if (!role.success) fail(`The role must be one of ${ROLES.join(", ")}.`, 2);
      const { password, generated } = passwordFrom(args);
      const user = insertUser(db, name, role.data, hashPasswordSync(password));
      audit(db, "user.create", user.name, "ok", { role: user.role, by: "command line" });
      process.stdout.write(`Added ${user.name} (${user.role}).${generated ? `\nPassword (shown once):\n\n  ${password}\n` : ""}\n`);
      return;
    }
    fail(USAGE, 2);
  });
}

try {
  main(process.argv.slice(2));
} catch (err) {
  fail(`${RUN} failed: ${err instanceof Error ? err.message : String(err)}`);
}
