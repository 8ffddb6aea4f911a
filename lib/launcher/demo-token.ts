import { randomBytes } from "node:crypto";
import { chmodSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import { MIN_AGENT_TOKEN_LENGTH } from "../contracts/agent-tls";

/**
 * The secret the dashboard and the demo agent share: `<dataDir>/agent-token` (mode 0600), made once
 * per data directory, and made again when it is missing, empty or too short to be one (a write cut
 * short, a truncated file). Both read it when they start, so a new one takes effect at once; before,
 * an empty file stopped `npm start` with the agent's "LIFEBOAT_AGENT_TOKEN must be set".
 */
export function demoAgentTokenFile(dataDir: string): string {
  const file = path.join(dataDir, "agent-token");
  let current = "";
  try {
    current = readFileSync(file, "utf8").trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  if (current.length < MIN_AGENT_TOKEN_LENGTH) {
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, randomBytes(32).toString("base64url") + "\n", { mode: 0o600 });
    chmodSync(tmp, 0o600);
    renameSync(tmp, file);
  }
  return file;
}
