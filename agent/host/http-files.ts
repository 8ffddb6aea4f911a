import { promises as fsp } from "node:fs";
import path from "node:path";
import { DomainError } from "../../lib/contracts/errors";
import type { AgentConfig } from "../config";

/**
 * Which host files a caller over HTTP may make the agent — root on the k3s server — read: only
 * those in the directories the operator named in LIFEBOAT_RESTORE_FILE_DIRS. The command line,
 * run by root on the host itself, is not limited.
 */

const under = (dir: string, file: string) => file === dir || file.startsWith(dir.endsWith(path.sep) ? dir : dir + path.sep);

/**
 * A host file named in a request over HTTP (a restore's `file` source, a recovery's `path`): allowed only inside LIFEBOAT_RESTORE_FILE_DIRS (the agent runs
 * as root; a caller with the token must not read any host path through it, nor learn which exist).
 * Checked before anything about the path is looked at; then symlinks are resolved and checked again,
 * and a directory or file others may write is refused (anyone on the host could plant a database
 * there). Throws DomainError `forbidden`. The CLI, run by root on the host, is not limited.
 */
export async function checkFileOverHttp(cfg: Pick<AgentConfig, "restoreFileDirs">, requested: string): Promise<void> {
  const refuse = (why: string) =>
    new DomainError(
      "forbidden",
      `${why} Use the command line as root on the agent's host instead (\`lifeboat-agent restore <file>\`, \`lifeboat-agent recover <file>\`).`,
    );
  if (cfg.restoreFileDirs.length === 0)
    throw refuse(
      "Over HTTP the agent reads backup sets, objects in its store and its own recoveries; files on its host only from directories named in LIFEBOAT_RESTORE_FILE_DIRS, and none is.",
    );
  const file = path.resolve(requested);
  if (!cfg.restoreFileDirs.some((d) => under(d, file))) throw refuse(`That path is outside LIFEBOAT_RESTORE_FILE_DIRS (${cfg.restoreFileDirs.join(":")}).`);
  const real = await fsp.realpath(file).catch(() => null);
  if (!real) throw new DomainError("not_found", `${file} is not a file on this host.`);
  const dirs = await Promise.all(cfg.restoreFileDirs.map((d) => fsp.realpath(d).catch(() => null)));
  const home = dirs.find((d) => d && under(d, real));
  if (!home) throw refuse(`That path leads outside LIFEBOAT_RESTORE_FILE_DIRS (through a symbolic link).`);
  for (let dir = path.dirname(real); under(home, dir); dir = path.dirname(dir)) {
    if ((await fsp.stat(dir)).mode & 0o002) throw refuse(`${dir} is writable by every user of the host, so a file in it proves nothing.`);
    if (dir === home) break;
  }
  if ((await fsp.stat(real)).mode & 0o022) throw refuse(`${real} is writable by users other than its owner.`);
}
